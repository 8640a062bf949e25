# A return after the windows below have closed, walked in headless chromium
# (t/browser/reopen.mjs): the province returns a city in its own window,
# the city returns one hospital, the hospital mends and signs its sheet
# again, up to the province -- every page saying why and until when.
use strict;
use utf8;
use warnings;
use Test::More;
use lib 't/lib';
use VBP::Test;

my $pid = vbp_open_project('t907 退回重开', 'S', 12, 2);
my $pw = 'Reopen@Test2026';
vbp_setup("user $_ password=$pw must_change=0 status=active") for qw(H21010200011 sy_admin ln_admin);
vbp_sql("DELETE FROM login_locks");

# the round as it stands in the province's window: H21010200011 filed and
# approved with its files, the others of Shenyang exempt, Shenyang and the
# other cities submitted and the province's stamped summary uploaded
my $item = vbp_sql("SELECT i.id FROM review_items i JOIN orgs o ON o.id = i.org_id"
                   . " WHERE i.project_id = $pid AND o.code = 'H21010200011'");
my $prov = vbp_sql("SELECT id FROM review_items WHERE project_id = $pid AND level = 'province'");
vbp_sql("INSERT INTO uploads (sha256, bytes, content_type) VALUES (repeat('7', 64), 20, 'application/pdf')"
        . " ON CONFLICT DO NOTHING");
vbp_sql("INSERT INTO filing_lines (item_id, catalog_line_id, last_year, demand, in_use, change_note, changed_at)"
        . " SELECT $item, id, 100, 100, true, '', now() - interval '4 days' FROM catalog_lines WHERE project_id = $pid");
vbp_sql("UPDATE filings SET contact = '李四', phone = '024-87654321', last_year_total = 1200, demand_total = 1200,"
        . " lines = 12, saved_at = now() - interval '4 days', changed_at = now() - interval '4 days' WHERE item_id = $item");
vbp_sql("INSERT INTO item_files (item_id, kind, sha256, filename, uploaded_at) VALUES"
        . " ($item, 'commitment', repeat('7', 64), 'letter.pdf', now() - interval '4 days'),"
        . " ($item, 'summary', repeat('7', 64), 'sheet.pdf', now() - interval '4 days'),"
        . " ($prov, 'province_summary', repeat('7', 64), 'stamped.pdf', now() - interval '1 hour')");
vbp_sql("UPDATE review_items SET state = CASE WHEN id = $item THEN 'approved' ELSE 'exempt' END,"
        . " submitted_at = now() - interval '4 days' WHERE project_id = $pid AND level = 'hospital'");
vbp_sql("UPDATE review_items SET state = 'submitted' WHERE project_id = $pid AND level = 'city'");
vbp_sql("UPDATE projects SET file_opens = now() - interval '6 days', file_closes = now() - interval '3 days',"
        . " city_opens = now() - interval '3 days', city_closes = now() - interval '1 day',"
        . " province_opens = now() - interval '1 day', province_closes = now() + interval '3 days'"
        . " WHERE id = $pid");

vbp_journey('reopen.mjs', 30, [qw(reopen-hospital-closed reopen-province-city-hospitals reopen-hospital-stale
                                 reopen-hospital-submitted reopen-city-list reopen-province-stale
                                 reopen-hospital-closed-390 reopen-city-list-390)],
            VBP_PROJECT => $pid, VBP_PASSWORD => $pw);

is(vbp_sql("SELECT state FROM review_items WHERE id = $prov"), 'submitted', 'the province submitted again after the round');
is(vbp_sql("SELECT open_until IS NULL FROM review_items WHERE id = $item"), 't', 'the hospital\'s reopening ended with its submission');

vbp_sql("DELETE FROM projects WHERE id = $pid");
done_testing();
