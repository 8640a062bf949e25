# Every page of every role in headless chromium (t/browser/pages.mjs): the
# alliance, a province, a city, a hospital, a manufacturer and a hospital's
# sub-user each open every entry of their menu and every action page;
# each answers 200 with its menu entry marked, logs no console error and
# passes axe-core (no serious or critical violation).  Screenshots of every
# page at 1366 px and at 390 px (nothing wider than the screen) under
# t/browser/output/, the notice pages among them.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use VBP::Test;

my $pw = 'Pages@Walk2026';
my %users = (alliance => 'lcb_admin', province => 'ln_admin', city => 'sy_admin',
             hospital => 'H21010200011', manufacturer => 'weigao', subuser => 't903_sub');

vbp_sql("DELETE FROM login_locks");
vbp_sql("DELETE FROM user_permissions WHERE user_id IN (SELECT id FROM users WHERE username LIKE 't903_%')");
# (run again on the same stack: the audit rows of an earlier run's sub-user
# keep their words, not the account)
vbp_sql("UPDATE audit_log SET actor_user_id = NULL WHERE actor_user_id IN"
        . " (SELECT id FROM users WHERE username LIKE 't903_%')");
vbp_sql("DELETE FROM users WHERE username LIKE 't903_%'");
vbp_setup("user $_ password=$pw must_change=0 status=active") for grep { !/^t903/ } values %users;
my $hash = vbp_sql("SELECT password_hash FROM users WHERE username = 'H21010200011'");
vbp_sql("INSERT INTO users (username, display_name, org_id, parent_user_id, password_hash,"
        . " must_change_password) SELECT 't903_sub', '子用户乙', org_id, id, '$hash', false"
        . " FROM users WHERE username = 'H21010200011'");
vbp_sql("INSERT INTO user_permissions SELECT id, 'account.subusers' FROM users WHERE username = 't903_sub'");

# an announcement of the province and one of the alliance, so that the
# notice pages have rows to open
vbp_sql("DELETE FROM notices WHERE title LIKE 't903%'");
vbp_sql("INSERT INTO notices (kind, title, body, author_org_id, author_name, scope_path, audience)"
        . " SELECT 'announcement', 't903 报量工作通知', '请按时填报。', o.id, '管理员', r.path, '{city_bureau,hospital}'"
        . " FROM orgs o JOIN regions r ON r.id = o.region_id WHERE o.code = 'YB210000'");
vbp_sql("INSERT INTO notices (kind, title, body, author_org_id, author_name, scope_path, audience)"
        . " SELECT 'policy', 't903 政策文件', '全文见附件。', o.id, '管理员', r.path,"
        . " '{province_bureau,city_bureau,hospital,manufacturer}'"
        . " FROM orgs o JOIN regions r ON r.id = o.region_id WHERE o.kind = 'alliance'");

my @order = qw(alliance province city hospital manufacturer subuser);
vbp_journey('pages.mjs', 120, [qw(pages-alliance-users pages-alliance-regions pages-city-users
                                 pages-hospital-subusers-grant pages-alliance-projects-new pages-alliance-projects-edit pages-alliance-projects-catalog
                                 pages-hospital-projects-catalog pages-city-review-confirm
                                 pages-hospital-notices pages-hospital-notices-view pages-province-notices-manage
                                 pages-province-notices-new pages-province-notices-edit pages-province-notices-readers
                                 pages-manufacturer-notices pages-hospital-notices-390 pages-province-notices-readers-390
                                 phone-home phone-users phone-audit)],
            VBP_USERS => join(' ', map { "$_:$users{$_}" } @order), VBP_PASSWORD => $pw);

done_testing();
