# A hospital imported while a project takes filings is enrolled in it
# (issue 10): its filing is there, 未填报, under its city; a project whose
# filing window has closed does not take it.  Plain Test::More.

use strict;
use utf8;
use warnings;
use lib 't/lib';
use VBP::Test;
use Test::More;

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $base = vbp_nginx_start();
END { vbp_nginx_stop() }

my $pw = 'Enrol@Test2026';
vbp_setup("user ln_admin password=$pw must_change=0 status=active");
vbp_sql("DELETE FROM login_locks");
my $t = vbp_setup("login ln_admin $pw");
my $as = { sid => $t->{'@SID@'}, csrf => $t->{'@CSRF@'} };

vbp_sql("DELETE FROM users WHERE username IN ('T35NEW1', 'T35NEW2')");
vbp_sql("DELETE FROM orgs WHERE code IN ('T35NEW1', 'T35NEW2')");
my $open = vbp_open_project('t35 开放项目', 'E', 3, 3);
my $closed = vbp_open_project('t35 已截止项目', 'F', 3, 3);
vbp_sql("UPDATE projects SET file_closes = now() - interval '1 hour' WHERE id = $closed");

my $csv = "编码,名称,区划编码,级别\nT35NEW1,新开业医院,210100,二级\nT35NEW2,新县医院,210300,一级\n";
utf8::encode($csv);
my ($st, $d) = vbp_api($base, $as, 'POST', '/api/orgs/import?kind=hospital', $csv, 'text/csv');
is($st, 200, 'the province imports two new hospitals') or diag(explain $d);

my $item = sub {
    my ($pid, $code) = @_;
    return scalar vbp_sql("SELECT i.state || '|' || c.region_id FROM review_items i JOIN orgs o ON o.id = i.org_id"
                          . " JOIN review_items c ON c.id = i.parent_id WHERE i.project_id = $pid AND o.code = '$code'");
};
my $shenyang = vbp_sql("SELECT id FROM regions WHERE code = '210100'");
is($item->($open, 'T35NEW1'), "unfiled|$shenyang", 'enrolled in the project taking filings, 未填报, under 沈阳');
ok($item->($open, 'T35NEW2'), '... the other one too');
ok(vbp_sql("SELECT count(*) FROM filings f JOIN review_items i ON i.id = f.item_id JOIN orgs o ON o.id = i.org_id"
           . " WHERE i.project_id = $open AND o.code = 'T35NEW1'") == 1, '... with its filing');
ok(!$item->($closed, 'T35NEW1'), 'never in a project whose filing window has closed');

($st, $d) = vbp_api($base, $as, 'POST', '/api/orgs/import?kind=hospital', $csv, 'text/csv');
is($d->{unchanged}, 2, 'the same file again changes nothing');
is(vbp_sql("SELECT count(*) FROM review_items i JOIN orgs o ON o.id = i.org_id WHERE i.project_id = $open"
           . " AND o.code LIKE 'T35NEW%'"), 2, '... and enrols nobody twice');

vbp_sql("DELETE FROM projects WHERE id IN ($open, $closed)");
done_testing();
