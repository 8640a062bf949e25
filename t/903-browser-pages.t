# Every page of every role in headless chromium (t/browser/pages.mjs): the
# alliance, a province, a city, a hospital, a manufacturer and a hospital's
# sub-user each open every entry of their menu and every action page;
# each answers 200 with its menu entry marked, logs no console error and
# passes axe-core (no serious or critical violation).  Screenshots of every
# page at 1366 px and of three at 390 px under t/browser/output/.
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
vbp_sql("DELETE FROM users WHERE username LIKE 't903_%'");
vbp_setup("user $_ password=$pw must_change=0 status=active") for grep { !/^t903/ } values %users;
my $hash = vbp_sql("SELECT password_hash FROM users WHERE username = 'H21010200011'");
vbp_sql("INSERT INTO users (username, display_name, org_id, parent_user_id, password_hash,"
        . " must_change_password) SELECT 't903_sub', '子用户乙', org_id, id, '$hash', false"
        . " FROM users WHERE username = 'H21010200011'");
vbp_sql("INSERT INTO user_permissions SELECT id, 'account.subusers' FROM users WHERE username = 't903_sub'");

my @order = qw(alliance province city hospital manufacturer subuser);
vbp_journey('pages.mjs', 120, [qw(pages-alliance-users pages-alliance-regions pages-city-users
                                 pages-hospital-subusers-grant pages-alliance-projects-new pages-alliance-projects-edit pages-alliance-projects-catalog
                                 pages-hospital-projects-catalog pages-city-review-confirm
                                 phone-home phone-users phone-audit)],
            VBP_USERS => join(' ', map { "$_:$users{$_}" } @order), VBP_PASSWORD => $pw);

done_testing();
