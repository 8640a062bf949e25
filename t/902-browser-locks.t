# The sign-in lock journey (t/browser/locks.mjs) in headless chromium:
# attempts left, the lock of one browser, 解锁 by the manager, and a weaker
# sub-account that cannot act on a stronger one.  Screenshots under
# t/browser/output/.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use VBP::Test;

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

vbp_journey('locks.mjs', 19, [qw(login-locked users-locked subusers-weak)],
            VBP_USER => $clerk, VBP_MANAGER => $manager, VBP_WEAK => $weak, VBP_STRONG => $strong);
is(vbp_sql("SELECT count(*) FROM login_locks WHERE username = '$clerk' AND locked_until > now()"),
   0, 'no lock is left');

done_testing();
