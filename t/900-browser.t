# The browser journey (t/browser/journey.mjs) in headless chromium against
# an nginx of its own; the screenshot of the home page is saved under
# t/browser/output/.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use VBP::Test;

plan skip_all => 'chromium or playwright-core missing (make deps installs them)'
    unless -x '/usr/bin/chromium' && -d "$VbpTop/t/browser/node_modules/playwright-core";

my $user = 'H21020400021';
vbp_setup("user $user password=Demo\@Pass1234 must_change=1");

my $base = vbp_nginx_start();
END { vbp_nginx_stop() }

$ENV{BASE} = $base;
$ENV{REDIS_PORT} = $ENV{TEST_NGINX_REDIS_PORT};
$ENV{OUT} = "$VbpTop/t/browser/output";
$ENV{VBP_USER} = $user;

my @out = `cd $VbpTop/t/browser && timeout 120 node journey.mjs 2>&1`;
my $status = $?;
print map { "# $_" } @out;
ok(scalar(grep { /^ok / } @out) >= 10, 'every step of the journey passed');
is(scalar(grep { /^not ok/ } @out), 0, 'no step failed');
is($status, 0, 'the journey exited 0');
ok(-s "$VbpTop/t/browser/output/home.png", 'the home page screenshot exists');

done_testing();
