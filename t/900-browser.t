# The browser journey (t/browser/journey.mjs) in headless chromium against
# an nginx of its own; the screenshot of the home page is saved under
# t/browser/output/.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use VBP::Test;

my $user = 'H21020400021';
vbp_setup("user $user password=Demo\@Pass1234 must_change=1");

vbp_journey('journey.mjs', 10, ['home'], VBP_USER => $user);

done_testing();
