# The sub-account journey (t/browser/subusers.mjs) in headless chromium; a
# screenshot of the sub-user list is saved under t/browser/output/.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use VBP::Test;

my $main = 'H21010300033';
my $sub = 't901_sub';
vbp_sql("DELETE FROM audit_log WHERE actor_user_id IN (SELECT id FROM users WHERE username = '$sub')");
vbp_sql("DELETE FROM users WHERE username = '$sub'");
vbp_setup("user $main password=Demo\@Pass1234 must_change=0 status=active");

vbp_journey('subusers.mjs', 15, ['subusers'], VBP_USER => $main, VBP_SUB => $sub);
is(vbp_sql("SELECT status FROM users WHERE username = '$sub'"), 'disabled', 'the sub-account is disabled');

done_testing();
