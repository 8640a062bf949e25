# Reviewer aid (issue 10): a line whose demand lies far from its peers'
# (the same catalog line, the same city, the same grade; at least 5 of
# them) is flagged -- per hospital in the city's list (outliers), per line
# on the item's page (far, with the peers' median and count) -- and only
# then: fewer than 5 peers, another grade, another city are no yardstick.
# Plain Test::More against an nginx of its own.

use strict;
use utf8;
use warnings;
use lib 't/lib';
use VBP::Test;
use Test::More;

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $base = vbp_nginx_start();
END { vbp_nginx_stop() }

my $pw = 'Peers@Test2026';
my %as = vbp_sign_in($pw, qw(sy_admin dl_admin));

# eight hospitals of one grade in 沈阳 and one of another, before the project
vbp_sql("DELETE FROM projects WHERE name = 't34 同类'");
vbp_sql("DELETE FROM orgs o WHERE o.code LIKE 'T34H%' AND NOT EXISTS (SELECT 1 FROM users u WHERE u.org_id = o.id)");
vbp_sql("INSERT INTO orgs (code, name, kind, region_id, category) SELECT 'T34H' || g, '同类医院' || g, 'hospital',"
        . " (SELECT id FROM regions WHERE code = '210100'), CASE WHEN g = 9 THEN '一级' ELSE '同类级别' END"
        . " FROM generate_series(1, 9) g ON CONFLICT (code) DO NOTHING");
my $pid = vbp_open_project('t34 同类', 'Q', 4, 2);
my %item = map { split /\|/ } vbp_sql("SELECT o.code || '|' || i.id FROM review_items i JOIN orgs o ON o.id = i.org_id"
                                      . " WHERE i.project_id = $pid AND o.code LIKE 'T34H%'");
my %line = map { split /\|/ } vbp_sql("SELECT serial || '|' || id FROM catalog_lines WHERE project_id = $pid");

# demand for Q001: 100 at T34H1-6, 1000 at T34H7 (ten times), 20 at T34H8
# (a fifth); Q002 filed by four only (no yardstick); T34H9, of another
# grade, files 5000 for Q001
my %q1 = (map({ ("T34H$_" => 100) } 1 .. 6), T34H7 => 1000, T34H8 => 20, T34H9 => 5000);
for my $code (sort keys %q1) {
    vbp_sql("INSERT INTO filing_lines (item_id, catalog_line_id, last_year, demand, in_use)"
            . " VALUES ($item{$code}, $line{Q001}, 100, $q1{$code}, true)");
}
for my $n (1 .. 4) {
    my $it = $item{"T34H$n"};
    vbp_sql("INSERT INTO filing_lines (item_id, catalog_line_id, last_year, demand, in_use)"
            . " VALUES ($it, $line{Q002}, 10, " . ($n == 1 ? 900 : 10) . ", true)");
}
vbp_sql("UPDATE review_items SET state = 'submitted' WHERE id IN (" . join(',', values %item) . ")");

my ($st, $d) = vbp_api($base, $as{sy_admin}, 'GET', "/api/review/items?project=$pid&q=T34H&per_page=20");
is($st, 200, 'the city\'s list');
my %out = map { $_->{org_code} => $_->{outliers} } @{ $d->{items} };
is($out{T34H7}, 1, 'ten times its peers\' median: one line far');
is($out{T34H8}, 1, 'a fifth of it: one line far');
is($out{T34H1}, 0, 'at the median: none (and Q002, with four peers, judges nobody)');
is($out{T34H9}, 0, 'another grade is not compared with this one');

($st, $d) = vbp_api($base, $as{sy_admin}, 'GET', "/api/review/item?id=$item{T34H7}");
is($st, 200, 'the item of the odd one');
my ($q1) = grep { $_->{serial} eq 'Q001' } @{ $d->{lines}{items} };
ok($q1->{far}, '... its Q001 is far');
is($q1->{peer_median}, '100.0', '... from the peers\' median');
is($q1->{peers}, 8, '... of eight hospitals of its city and grade');
is($d->{outliers}, 1, '... and the item counts one far line');
($st, $d) = vbp_api($base, $as{sy_admin}, 'GET', "/api/review/item?id=$item{T34H1}");
my ($q2) = grep { $_->{serial} eq 'Q002' } @{ $d->{lines}{items} };
ok(!$q2->{far}, 'nine times the median of four peers: no judgement');
is($q2->{peers}, 4, '... four peers');

my ($ps, $html) = vbp_page($base, $as{sy_admin}, "/review?project=$pid&q=T34H7");
like($html, qr{<tr data-code="T34H7" class="beyond">.*?class="tag far-tag"[^>]*>1</span>}s, 'the list page tags the hospital');
($ps, $html) = vbp_page($base, $as{sy_admin}, "/review/item?id=$item{T34H7}");
like($html, qr{<tr data-serial="Q001" class="beyond">.*?偏离同类（中位数 100\.0，8 家）}s, 'the item page tags the line with the yardstick');

# the peers are the filings handed in, and the medians kept per city
# (migration 009) follow them: the city returns T34H8 (20) ...
($st, $d) = vbp_api($base, $as{sy_admin}, 'POST', '/api/review/act',
                    { project => $pid, action => 'return', ids => [$item{T34H8}], reason => '请核对 Q001' });
is($st, 200, 'the city returns T34H8');
($st, $d) = vbp_api($base, $as{sy_admin}, 'GET', "/api/review/item?id=$item{T34H7}");
($q1) = grep { $_->{serial} eq 'Q001' } @{ $d->{lines}{items} };
is($q1->{peers}, 7, '... which is no longer a peer: seven of them');
($st, $d) = vbp_api($base, $as{sy_admin}, 'GET', "/api/review/item?id=$item{T34H8}");
($q1) = grep { $_->{serial} eq 'Q001' } @{ $d->{lines}{items} };
ok($q1->{far} && $q1->{peers} == 7, '... and is itself judged against the seven handed in');

# ... it corrects its figure and hands it in again: eight peers, not far
vbp_sql("UPDATE filing_lines SET demand = 100 WHERE item_id = $item{T34H8} AND catalog_line_id = $line{Q001}");
vbp_sql("UPDATE filings SET demand_total = 100 + 10 WHERE item_id = $item{T34H8}");
vbp_sql("UPDATE review_items SET state = 'submitted', submitted_at = now() WHERE id = $item{T34H8}");
($st, $d) = vbp_api($base, $as{sy_admin}, 'GET', "/api/review/item?id=$item{T34H8}");
($q1) = grep { $_->{serial} eq 'Q001' } @{ $d->{lines}{items} };
ok(!$q1->{far} && $q1->{peers} == 8, 'handed in again at the median: eight peers, not far');

# a draft is no yardstick: three drafts of 1000 do not move the median
for my $n (4 .. 6) {
    vbp_sql("UPDATE filing_lines SET demand = 1000 WHERE item_id = $item{\"T34H$n\"} AND catalog_line_id = $line{Q001}");
}
vbp_sql("UPDATE review_items SET state = 'draft' WHERE id IN ($item{T34H4}, $item{T34H5}, $item{T34H6})");
($st, $d) = vbp_api($base, $as{sy_admin}, 'GET', "/api/review/items?project=$pid&q=T34H&per_page=20");
%out = map { $_->{org_code} => $_->{outliers} } @{ $d->{items} };
is($out{T34H7}, 1, 'drafts of 1000: T34H7 still far from the five handed in');
is($out{T34H4}, 1, '... and a draft of 1000 is judged against them');

# 大连 sees nothing of 沈阳's, flags included
($st) = vbp_api($base, $as{dl_admin}, 'GET', "/api/review/item?id=$item{T34H7}");
is($st, 404, 'another city: the item is not there');

vbp_sql("DELETE FROM projects WHERE id = $pid");
vbp_sql("DELETE FROM orgs o WHERE o.code LIKE 'T34H%' AND NOT EXISTS (SELECT 1 FROM users u WHERE u.org_id = o.id)");
done_testing();
