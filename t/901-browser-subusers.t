# The sub-account journey (t/browser/subusers.mjs) in headless chromium; a
# screenshot of the sub-user list is saved under t/browser/output/.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use VBP::Test;

plan skip_all => 'chromium or playwright-core missing (make deps installs them)'
    unless -x '/usr/bin/chromium' && -d "$VbpTop/t/browser/node_modules/playwright-core";

my $main = 'H21010300033';
my $sub = 't901_sub';
vbp_sql("DELETE FROM audit_log WHERE actor_user_id IN (SELECT id FROM users WHERE username = '$sub')");
vbp_sql("DELETE FROM users WHERE username = '$sub'");
vbp_setup("user $main password=Demo\@Pass1234 must_change=0 status=active");

my $base = vbp_nginx_start();
END { vbp_nginx_stop() }

$ENV{BASE} = $base;
$ENV{REDIS_PORT} = $ENV{TEST_NGINX_REDIS_PORT};
$ENV{OUT} = "$VbpTop/t/browser/output";
$ENV{VBP_USER} = $main;
$ENV{VBP_SUB} = $sub;

my @out = `cd $VbpTop/t/browser && timeout 120 node subusers.mjs 2>&1`;
my $status = $?;
print map { "# $_" } @out;
ok(scalar(grep { /^ok / } @out) >= 13, 'every step of the journey passed');
is(scalar(grep { /^not ok/ } @out), 0, 'no step failed');
is($status, 0, 'the journey exited 0');
ok(-s "$VbpTop/t/browser/output/subusers.png", 'the sub-user list screenshot exists');
is(vbp_sql("SELECT status FROM users WHERE username = '$sub'"), 'disabled', 'the sub-account is disabled');

done_testing();
