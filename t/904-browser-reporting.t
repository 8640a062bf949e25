# The reporting journey in headless chromium (t/browser/reporting.mjs): a
# hospital fills two pages of lines, a refused 暂存 keeps what was typed,
# it saves, uploads its letter and summary sheet and submits; its city
# approves in a batch, reviews 需求量信息确认 and submits; the province uploads its stamped summary,
# approves its cities and submits; the alliance approves the province.
# Screenshots of the filing page, the city's review list, confirmation and filing
# progress, the province summary, its filing progress and the national
# summary under t/browser/output/.
use strict;
use utf8;
use warnings;
use Test::More;
use lib 't/lib';
use VBP::Test;

my $name = 't904 浏览器报量';
my $pid = vbp_open_project($name, 'B', 12, 6);
# the journey is about one hospital: the others of Liaoning need not report
vbp_sql("UPDATE review_items SET state = 'exempt' WHERE project_id = $pid AND level = 'hospital'"
        . " AND org_id <> (SELECT id FROM orgs WHERE code = 'H21010200011')");
# and the cities without it have submitted, approved by nobody yet
vbp_sql("UPDATE review_items SET state = 'submitted' WHERE project_id = $pid AND level = 'city'"
        . " AND region_id <> (SELECT id FROM regions WHERE code = '210100')");

my $pw = 'Journey@Test2026';
vbp_setup("user $_ password=$pw must_change=0 status=active")
    for qw(H21010200011 sy_admin ln_admin lcb_admin);
vbp_sql("DELETE FROM login_locks");

vbp_journey('reporting.mjs', 24, ['filing', 'filing-refused', 'city-review', 'city-progress', 'city-confirm', 'province-summary',
                               'filing-progress', 'national-summary'],
            VBP_PROJECT => $pid, VBP_PASSWORD => $pw);

is(vbp_sql("SELECT state FROM review_items WHERE project_id = $pid AND level = 'province'"), 'approved',
   'the province is approved by the alliance');
is(vbp_sql("SELECT demand_total FROM filings f JOIN review_items i ON i.id = f.item_id"
           . " WHERE i.project_id = $pid AND i.level = 'hospital' AND i.state = 'approved'"), 120,
   'the filing holds the lines of both pages (12 x 10)');
is(vbp_sql("SELECT count(*) FROM item_files x JOIN review_items i ON i.id = x.item_id WHERE i.project_id = $pid"), 3,
   'the letter, the summary sheet and the province\'s stamped summary were uploaded');

done_testing();
