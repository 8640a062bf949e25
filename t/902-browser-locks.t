# The sign-in lock journey (t/browser/locks.mjs) in headless chromium:
# attempts left, the lock of one browser, 解锁 by the manager, and a weaker
# sub-account that cannot act on a stronger one.  Screenshots under
# t/browser/output/.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use VBP::Test;

plan skip_all => 'chromium or playwright-core missing (make deps installs them)'
    unless -x '/usr/bin/chromium' && -d "$VbpTop/t/browser/node_modules/playwright-core";

my ($clerk, $manager) = ('H21030300024', 'as_admin');
my ($weak, $strong) = ('t902_weak', 't902_strong');

vbp_sql("DELETE FROM login_locks");
vbp_sql("DELETE FROM audit_log WHERE actor_user_id IN (SELECT id FROM users WHERE username LIKE 't902_%')");
vbp_sql("DELETE FROM users WHERE username LIKE 't902_%'");
vbp_setup("user $clerk password=Demo\@Pass1234 must_change=0 status=active");
vbp_setup("user $manager password=Demo\@Pass1234 must_change=0 status=active");
my $hash = vbp_sql("SELECT password_hash FROM users WHERE username = '$clerk'");
for my $s ([$weak, 'account.subusers'], [$strong, 'account.subusers', 'admin.users', 'admin.orgs', 'admin.audit']) {
    my ($name, @perms) = @$s;
    vbp_sql("INSERT INTO users (username, display_name, org_id, parent_user_id, password_hash,"
            . " must_change_password) SELECT '$name', '子账户', org_id, id, '$hash', false"
            . " FROM users WHERE username = '$manager'");
    vbp_sql("INSERT INTO user_permissions SELECT id, '$_' FROM users WHERE username = '$name'") for @perms;
}

my $base = vbp_nginx_start();
END { vbp_nginx_stop() }

$ENV{BASE} = $base;
$ENV{REDIS_PORT} = $ENV{TEST_NGINX_REDIS_PORT};
$ENV{OUT} = "$VbpTop/t/browser/output";
$ENV{VBP_USER} = $clerk;
$ENV{VBP_MANAGER} = $manager;
$ENV{VBP_WEAK} = $weak;
$ENV{VBP_STRONG} = $strong;

my @out = `cd $VbpTop/t/browser && timeout 180 node locks.mjs 2>&1`;
my $status = $?;
print map { "# $_" } @out;
ok(scalar(grep { /^ok / } @out) >= 19, 'every step of the journey passed');
is(scalar(grep { /^not ok/ } @out), 0, 'no step failed');
is($status, 0, 'the journey exited 0');
ok(-s "$VbpTop/t/browser/output/$_.png", "the $_ screenshot exists")
    for qw(login-locked users-locked subusers-weak);
is(vbp_sql("SELECT count(*) FROM login_locks WHERE username = '$clerk' AND locked_until > now()"),
   0, 'no lock is left');

done_testing();
