# Product lines (issue 10): a project's line decides the filing's columns
# and rules.  Brackets file an intended volume and must say why when the
# demand falls below it (rule 6) and know nothing of the IVD instrument
# rules; implants only have the threshold (rule 5); a line added as a row
# of product_lines works with no code of its own.  Plain Test::More against
# an nginx of its own.

use strict;
use utf8;
use warnings;
use lib 't/lib';
use VBP::Test;
use Test::More;

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $base = vbp_nginx_start();
END { vbp_nginx_stop() }

my $pw = 'Lines@Test2026';
vbp_sql("DELETE FROM login_locks");
my %as = vbp_sign_in($pw, qw(H21010200011 sy_admin));

sub call { my $who = shift; return vbp_api($base, $as{$who}, @_) }
sub save { my ($pid, @lines) = @_; return call('H21010200011', 'POST', '/api/filing/save', { project => $pid, lines => \@lines }) }
sub submit { my ($pid, %more) = @_;
             return call('H21010200011', 'POST', '/api/filing/submit',
                         { project => $pid, contact => '王五', phone => '024-23456789', %more }) }

my $pdf = "%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
sub files {
    my ($pid) = @_;
    for my $kind (qw(commitment summary)) {
        my ($st) = call('H21010200011', 'POST', "/api/files/upload?project=$pid&kind=$kind", $pdf,
                        'application/octet-stream');
        is($st, 201, "... its $kind uploaded");
    }
}

sub state_of {
    my ($pid) = @_;
    return scalar vbp_sql("SELECT i.state FROM review_items i JOIN orgs o ON o.id = i.org_id"
                          . " WHERE i.project_id = $pid AND o.code = 'H21010200011'");
}

# a project of LINE with three catalog lines PREFIX001..3 of one certificate
sub project {
    my ($name, $line, $prefix) = @_;
    my $pid = vbp_open_project($name, $prefix, 3, 3);
    vbp_sql("UPDATE projects SET product_line = '$line' WHERE id = $pid");
    return $pid;
}

# --- brackets: intended volume, rule 6, no instrument rules -----------------

my $pid = project('t37 口腔正畸托槽', 'bracket', 'B');
my %line = map { split /\|/ } vbp_sql("SELECT serial || '|' || id FROM catalog_lines WHERE project_id = $pid");

my ($st, $d) = call('H21010200011', 'GET', "/api/filing?project=$pid");
is($st, 200, 'a bracket filing');
is_deeply($d->{line_rules}{columns}, ['intended'], '... has the intended volume as its column');

($st, $d) = save($pid, { catalog_line_id => $line{B001}, last_year => 100, demand => 110, intended => -5 });
is($st, 422, 'a negative intended volume');
is($d->{error}{fields}{"lines.$line{B001}.intended"}, '数量不能为负数', '... said at its line and field');

($st, $d) = save($pid, { catalog_line_id => $line{B001}, last_year => 100, demand => 110, intended => 150 },
                       { catalog_line_id => $line{B002}, last_year => 20, demand => 20, intended => 20 });
is($st, 200, 'lines without 是否有在用仪器: the IVD rules do not apply to brackets');
is_deeply([@$d{qw(demand_total intended_total)}], [130, 170], '... the intended total runs with the demand');

files($pid);
my $before = vbp_sql("SELECT count(*) FROM review_events");

($st, $d) = submit($pid);
is($st, 422, 'rule 6: a demand below the intended volume needs its reason');
is($d->{error}{fields}{below_reason}, '需求量合计低于意向采购量，请填写原因', '... said at the reason');
is(state_of($pid), 'draft', '... and it is not submitted');

($st, $d) = submit($pid, below_reason => '原' x 501, phone => 'abc');
is($st, 422, 'a reason too long and a bad phone, in one submit');
is($d->{error}{fields}{below_reason}, '长度应为 0 到 500 个字符', '... the reason says what is wrong with it, not that it is missing');
ok($d->{error}{fields}{phone}, '... and the phone is named in the same answer');
is(vbp_sql("SELECT count(*) FROM review_events"), $before, '... no event written by the refusals');

my $html;
($st, $html) = vbp_form($base, $as{H21010200011}, '/filing/submit', project => $pid, contact => '王五',
                        phone => '024-23456789', below_reason => '原因' x 251, next => "/filing?project=$pid");
is($st, 422, 'the page: a reason too long');
like($html, qr{id="below_reason-error">长度应为 0 到 500 个字符}, '... said at the reason');
like($html, qr{id="below_reason" value="(?:原因){251}"}, '... which keeps what was typed');
like($html, qr{<th>意向采购量</th>}, '... on a page with the intended column');

($st, $d) = submit($pid, below_reason => '部分患者转诊');
is($st, 200, 'with the reason it is submitted') or diag explain $d;
is(state_of($pid), 'submitted', '... 已提交');
my $item = vbp_sql("SELECT item_id FROM filings f JOIN review_items i ON i.id = f.item_id"
                   . " JOIN orgs o ON o.id = i.org_id WHERE i.project_id = $pid AND o.code = 'H21010200011'");
($st, $d) = call('sy_admin', 'GET', "/api/review/item?id=$item");
is($st, 200, 'the city opens the filing');
is($d->{below_reason}, '部分患者转诊', '... and reads the reason');
is($d->{intended_total}, 170, '... with the intended total');

# --- implants: the threshold only -------------------------------------------

$pid = project('t37 口腔种植体', 'implant', 'I');
%line = map { split /\|/ } vbp_sql("SELECT serial || '|' || id FROM catalog_lines WHERE project_id = $pid");
($st, $d) = call('H21010200011', 'GET', "/api/filing?project=$pid");
is_deeply($d->{line_rules}{columns}, [], 'an implant filing has no extra column');
($st, $d) = save($pid, { catalog_line_id => $line{I001}, last_year => 10, demand => 100 });
is($st, 200, 'a line saved without instrument or intended volume');
files($pid);
($st, $d) = submit($pid);
is($st, 422, 'rule 5 holds for implants: beyond the threshold');
is($d->{error}{fields}{"lines.$line{I001}.change_note"}, '需求量超出阈值，请填写增降幅说明', '... at the line');
ok(!exists $d->{error}{fields}{below_reason}, '... and rule 6 does not');
($st) = save($pid, { catalog_line_id => $line{I001}, last_year => 10, demand => 100, change_note => '新开科室' });
($st, $d) = submit($pid);
is($st, 200, 'with its note it is submitted');

# --- a line that is only data ---------------------------------------------

vbp_sql("DELETE FROM projects WHERE name = 't37 新产品线'");
vbp_sql("DELETE FROM product_lines WHERE code = 'test_line'");
vbp_sql("INSERT INTO product_lines (code, name, columns, rules, sort)"
        . " VALUES ('test_line', '测试产品线', '{intended,in_use}', '{in_use_filled,below_intended}', 9)");
$pid = project('t37 新产品线', 'test_line', 'N');
%line = map { split /\|/ } vbp_sql("SELECT serial || '|' || id FROM catalog_lines WHERE project_id = $pid");
($st, $d) = call('H21010200011', 'GET', "/api/filing?project=$pid");
is_deeply([sort @{ $d->{line_rules}{columns} }], ['in_use', 'intended'], 'a line added as a row: its columns');
($st, $d) = save($pid, { catalog_line_id => $line{N001}, last_year => 1, demand => 1000, intended => 2000 });
is($st, 422, '... its rule 1');
ok($d->{error}{fields}{"lines.$line{N001}.in_use"}, '... at the line');
($st, $d) = save($pid, { catalog_line_id => $line{N001}, last_year => 1, demand => 1000, intended => 2000, in_use => 1 });
is($st, 200, '... saved once the flag is given');
files($pid);
($st, $d) = submit($pid);
is($st, 422, '... its rule 6');
ok($d->{error}{fields}{below_reason}, '... at the reason');
ok(!grep({ /change_note/ } keys %{ $d->{error}{fields} }), '... and no threshold rule it was not given');

vbp_sql("DELETE FROM projects WHERE name LIKE 't37 %'");
vbp_sql("DELETE FROM product_lines WHERE code = 'test_line'");

is(vbp_error_log() =~ /\[(?:alert|crit|emerg)\]/ ? 'bad' : 'clean', 'clean', 'nothing alarming in the error log');

done_testing();
