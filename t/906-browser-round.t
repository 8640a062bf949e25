# A whole reporting round in headless chromium (t/browser/round.mjs), as
# its clerks walk it: the hospital refused and mended (every error at its
# line in one 暂存, a refused 提交 at its fields with the checklist), read
# only once submitted; the city returns it with a reason the hospital
# reads on its home page and at the top of its filing, takes another out
# with a reason shown on 需求量信息确认, goes back to its list as it left
# it; the province reads the city's detail and sees its own state and
# stamped file; the alliance returns the province, the province the city,
# the city the one hospital -- and up again to the alliance's approval.
# An announcement is published, read and counted.  axe-core and shots at
# 1366 x 768 and 390 px of every page on the way, under t/browser/output/.
use strict;
use utf8;
use warnings;
use Test::More;
use Encode ();
use lib 't/lib';
use VBP::Test;

my $pid = vbp_open_project('t906 报量全流程', 'R', 24, 2);
vbp_sql("DELETE FROM notices WHERE title LIKE 't906%'");
# the round is about two hospitals of Shenyang: the others need not report
vbp_sql("UPDATE review_items SET state = 'exempt' WHERE project_id = $pid AND level = 'hospital'"
        . " AND org_id NOT IN (SELECT id FROM orgs WHERE code IN ('H21010200011', 'H21010200022'))");
# and the other cities of Liaoning have submitted
vbp_sql("UPDATE review_items SET state = 'submitted' WHERE project_id = $pid AND level = 'city'"
        . " AND region_id <> (SELECT id FROM regions WHERE code = '210100')");

my $pw = 'Round@Test2026';
vbp_setup("user $_ password=$pw must_change=0 status=active")
    for qw(H21010200011 sy_admin ln_admin lcb_admin);
vbp_sql("DELETE FROM login_locks");

vbp_journey('round.mjs', 90, [qw(round-hospital-home round-filing-refused-save round-filing-refused-submit
                                round-filing-submitted round-city-item round-city-list round-city-confirm
                                round-province-city-detail round-province-submitted round-alliance-province-detail
                                round-province-returned round-city-returned round-national round-notice-view
                                round-notice-readers round-city-item-390 round-filing-submitted-390)],
            VBP_PROJECT => $pid, VBP_PASSWORD => $pw);

is(vbp_sql("SELECT state FROM review_items WHERE project_id = $pid AND level = 'province'"
           . " AND region_id = (SELECT id FROM regions WHERE code = '210000')"), 'approved',
   'Liaoning is approved by the alliance after the round');
is(vbp_sql("SELECT count(*) FROM review_events e JOIN review_items i ON i.id = e.item_id"
           . " WHERE i.project_id = $pid AND e.action = 'return' AND e.reason <> ''"), 4,
   'four returns on the way, each with its reason');
is(Encode::decode_utf8(scalar vbp_sql("SELECT e.reason FROM review_events e JOIN review_items i ON i.id = e.item_id JOIN orgs o ON o.id = i.org_id"
           . " WHERE i.project_id = $pid AND o.code = 'H21010200022' AND e.action = 'exempt'")), '本年度未开展该类检验项目',
   'the hospital taken out keeps its reason');

done_testing();
