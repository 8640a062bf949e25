# The catalog (目录, SPEC §3): the alliance imports it from CSV or XLSX with
# row-level errors and all or nothing; the file is the catalog (added,
# updated, and before the project starts removed; once it runs nothing may
# go); 目录下载 writes the columns an import reads, so a download imported
# again changes nothing; who may read and who may import; the page, and the
# commitment letter's template offered to the hospitals.
# Plain Test::More against an nginx of its own.

use strict;
use utf8;
use warnings;
use lib 't/lib';
use VBP::Test;
use Test::More;
use Encode ();

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $base = vbp_nginx_start();
END { vbp_nginx_stop() }

my $pw = 'Catalog@Test2026';
my %as = vbp_sign_in($pw, qw(lcb_admin ln_admin H21010200011));
sub call { my $who = shift; return vbp_api($base, $as{$who}, @_) }
sub import_file {
    my ($who, $pid, $body, $type) = @_;
    utf8::encode($body) if utf8::is_utf8($body);
    return call($who, 'POST', "/api/catalog/import?project=$pid", $body, $type // 'text/csv');
}
sub lines_of { my $pid = shift; return scalar vbp_sql("SELECT count(*) FROM catalog_lines WHERE project_id = $pid") }

# a project that starts in ten days (未开始), of Liaoning, with no catalog
my $name = 't33 目录项目';
vbp_sql("DELETE FROM projects WHERE name LIKE 't33 %'");
vbp_sql("INSERT INTO projects (name, product_line, threshold_pct, file_opens, file_closes, city_opens,"
        . " city_closes, province_opens, province_closes, alliance_opens, alliance_closes)"
        . " SELECT '$name', 'ivd', 30, " . join(', ', map { ("now() + interval '10 days'", "now() + interval '20 days'") } 1 .. 4));
my $pid = vbp_sql("SELECT id FROM projects WHERE name = '$name'");
vbp_sql("INSERT INTO project_provinces (project_id, region_id) SELECT $pid, id FROM regions WHERE code = '210000'");
vbp_sql("SELECT vbp_project_enroll($pid)");

my $header = "流水号,大项,小项,注册证,生产企业,产品名称,规格,单位\n";
my $csv = $header . join '', map {
    sprintf "C%03d,肝功能,丙氨酸氨基转移酶,国械注准2020%04d,甲公司,试剂%d,\"100人份/盒, 液体\",盒\n", $_, int(($_ - 1) / 2), $_
} 1 .. 6;

# --- who may import -----------------------------------------------------------

my ($st, $d) = import_file('ln_admin', $pid, $csv);
is($st, 403, 'a province may not import a catalog');
($st, $d) = import_file('H21010200011', $pid, $csv);
is($st, 403, '... nor a hospital');
($st, $d) = import_file('lcb_admin', 999999, $csv);
is($st, 404, 'a project that is not there: 404');
is(lines_of($pid), 0, '... nothing written');

# --- bad files: every bad row said, nothing written ----------------------------

my $bad = $header
    . "C001,肝功能,丙氨酸氨基转移酶,国械注准1,甲公司,试剂1,1盒,盒\n"
    . "C002,,丙氨酸氨基转移酶,国械注准1,甲公司,试剂2,1盒,盒\n"              # line 3: no 大项
    . "C001,肝功能,总胆红素,国械注准2,乙公司,试剂3,1盒,盒\n"                # line 4: C001 again
    . "C004,肝功能,总胆红素,国械注准2,乙公司,试剂4,1盒,一盒十二支装的单位写得很长很长很长很长很长\n";  # line 5: unit too long
($st, $d) = import_file('lcb_admin', $pid, $bad);
is($st, 422, 'a file with three bad rows is refused');
like($d->{error}{fields}{file}, qr/文件中有 3 行有误，未导入任何数据/, '... saying how many at the file');
my %at = map { ("$_->{line}:" . ($_->{field} // '') => $_->{message}) } @{ $d->{error}{rows} };
like($at{'3:category'}, qr/大项不能为空/, '... line 3: the empty 大项');
like($at{'4:serial'}, qr/流水号与第 2 行重复/, '... line 4: the serial of line 2 again');
like($at{'5:unit'}, qr/单位不能超过 16 个字/, '... line 5: the long unit');
is($d->{error}{rows}[0]{column}, '大项', '... each named by its column as the header names it');
is(lines_of($pid), 0, '... and not one line written');

($st, $d) = import_file('lcb_admin', $pid, "流水号,大项,注册证,生产企业\nC001,肝功能,国械注准1,甲公司\n");
is($st, 422, 'a header without 小项 and 产品名称: refused');
like($d->{error}{rows}[0]{message}, qr/表头缺少列：小项、产品名称.*流水号,大项,小项,注册证,生产企业,产品名称,规格,单位/,
     '... naming what is missing and the header expected');

my $gbk = Encode::encode('gbk', $header . "C001,肝功能,转氨酶,国械注准1,甲公司,试剂1,1盒,盒\n");
($st, $d) = import_file('lcb_admin', $pid, $gbk);
is($st, 422, 'a GBK file (Excel\'s plain CSV): refused');
like($d->{error}{fields}{file}, qr/不是 UTF-8 编码/, '... saying how to save it');

# --- a good file, then the same file, then a download of it --------------------

($st, $d) = import_file('lcb_admin', $pid, $csv);
is($st, 200, 'six good lines: imported');
is_deeply([@$d{qw(rows inserted updated removed)}], [6, 6, 0, 0], '... six added');
is(lines_of($pid), 6, '... six in the catalog');
is(Encode::decode_utf8(vbp_sql("SELECT spec FROM catalog_lines WHERE project_id = $pid AND serial = 'C003'")), '100人份/盒, 液体',
   '... a quoted cell with a comma kept whole');
like(vbp_sql("SELECT detail::text FROM audit_log WHERE action = 'catalog_imported' AND target_id = '$pid'"
             . " ORDER BY id DESC LIMIT 1"), qr/"inserted": 6/, '... and audited');

($st, $d) = import_file('lcb_admin', $pid, $csv);
is_deeply([@$d{qw(inserted updated unchanged removed)}], [0, 0, 6, 0], 'the same file again changes nothing');

my ($raw, $h);
($st, $d, $raw, $h) = call('H21010200011', 'GET', "/api/catalog/export?project=$pid");
is($st, 200, 'a hospital of the project downloads the catalog (目录下载)');
like($h->{'content-disposition'}, qr/attachment/, '... as an attachment');
like($raw, qr/^\xEF\xBB\xBF\Q${\ Encode::encode_utf8('流水号,大项,小项,注册证,生产企业,产品名称,规格,单位')}\E\r\n/,
     '... UTF-8 with a BOM, the header an import reads');
is(() = $raw =~ /\r\n/g, 7, '... and a row per line');
($st, $d) = import_file('lcb_admin', $pid, Encode::decode_utf8($raw));
is($st, 200, 'the download imported again');
is_deeply([@$d{qw(inserted updated unchanged removed)}], [0, 0, 6, 0], '... changes nothing');

# an XLSX workbook: C006 changed, C007 added, C005 gone (the project has not
# started: the file is the catalog)
my @rows = ([split /,/, '流水号,大项,小项,注册证,生产企业,产品名称,规格,单位']);
push @rows, map { ["C00$_", '肝功能', '丙氨酸氨基转移酶', '国械注准20200001', '甲公司', "试剂$_", '1盒', '盒'] } 1 .. 4;
push @rows, ['C006', '肾功能', '肌酐', '国械注准20200002', '乙公司', '试剂6', '1盒', '盒'],
            ['C007', '肾功能', '尿素', '国械注准20200003', '乙公司', '试剂7', '1盒', '盒'];
($st, $d) = import_file('lcb_admin', $pid, vbp_xlsx(@rows),
                        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
is($st, 200, 'an XLSX workbook imports the same way');
is($d->{inserted}, 1, '... C007 added');
is($d->{removed}, 1, '... C005, missing from the file before the project starts, removed');
is(Encode::decode_utf8(vbp_sql("SELECT category FROM catalog_lines WHERE project_id = $pid AND serial = 'C006'")), '肾功能',
   '... C006 updated');
is(vbp_sql("SELECT catalog_size FROM projects WHERE id = $pid"), lines_of($pid),
   '... and the size kept with the project follows (6 lines: one added, one removed)');
($st, $d) = call('H21010200011', 'GET', "/api/filing?project=$pid");
is($d->{lines}{total}, 6, "... which is what the filing page pages") if $st == 200;

# --- once the project runs, nothing may go -----------------------------------

vbp_sql("UPDATE projects SET file_opens = now() - interval '1 day', city_opens = now() - interval '1 day',"
        . " province_opens = now() - interval '1 day', alliance_opens = now() - interval '1 day' WHERE id = $pid");
my $before = lines_of($pid);
($st, $d) = import_file('lcb_admin', $pid, $header . "C001,肝功能,转氨酶,国械注准1,甲公司,试剂1,1盒,盒\n");
is($st, 422, 'a running project: a file that lacks catalog lines is refused');
like($d->{error}{rows}[0]{message}, qr/目录中的流水号 C002 在文件中缺少：项目已开始/, '... naming each line it lacks');
is(lines_of($pid), $before, '... nothing changed');
($st, $d, $raw) = call('lcb_admin', 'GET', "/api/catalog/export?project=$pid");
($st, $d) = import_file('lcb_admin', $pid, Encode::decode_utf8($raw) . "C008,肾功能,尿酸,国械注准3,乙公司,试剂8,1盒,盒\n");
is($st, 200, '... a file that adds a line: imported');
is($d->{inserted}, 1, '... one added');

vbp_sql("UPDATE projects SET file_closes = now() - interval '1 hour', city_closes = now() - interval '1 hour',"
        . " province_closes = now() - interval '1 hour', alliance_closes = now() - interval '1 hour',"
        . " file_opens = now() - interval '2 days', city_opens = now() - interval '2 days',"
        . " province_opens = now() - interval '2 days', alliance_opens = now() - interval '2 days' WHERE id = $pid");
($st, $d) = import_file('lcb_admin', $pid, $raw);
is($st, 409, 'an ended project takes no catalog');

# --- reading: the list, the scope ---------------------------------------------

($st, $d) = call('ln_admin', 'GET', "/api/catalog?project=$pid&q=C00&per_page=10");
is($st, 200, 'the province reads the catalog of its project');
is($d->{total}, 7, '... all of it');
($st, $d) = call('ln_admin', 'GET', "/api/catalog?project=$pid&q=" . join('', map { sprintf '%%%02X', ord } split //, Encode::encode_utf8('肌酐')));
is($d->{total}, 1, '... searched by 小项');
my $other = vbp_sql("INSERT INTO projects (name, product_line, threshold_pct, file_opens, file_closes, city_opens,"
        . " city_closes, province_opens, province_closes, alliance_opens, alliance_closes)"
        . " SELECT 't33 安徽项目', 'ivd', 30, " . join(', ', map { ("now()", "now() + interval '9 days'") } 1 .. 4)
        . " RETURNING id");
vbp_sql("INSERT INTO project_provinces (project_id, region_id) SELECT $other, id FROM regions WHERE code = '340000'");
vbp_sql("SELECT vbp_project_enroll($other)");
($st) = call('H21010200011', 'GET', "/api/catalog?project=$other");
is($st, 404, 'a hospital of Liaoning: the catalog of an Anhui project is not there');
($st) = call('H21010200011', 'GET', "/api/catalog/export?project=$other");
is($st, 404, '... nor its download');

# --- the page and the template ----------------------------------------------

my ($ps, $html) = vbp_page($base, $as{lcb_admin}, "/projects/catalog?project=$pid");
is($ps, 200, 'the alliance\'s catalog page');
like($html, qr{id="import-form"[^>]*data-action="/api/catalog/import\?project=$pid"}, '... with the import form');
like($html, qr{<tr data-serial="C001">}, '... the lines');
like($html, qr{href="/projects/catalog/export\?project=$pid"}, '... 目录下载');
like($html, qr{id="template-none"}, '... and no template yet');
($ps, $html) = vbp_page($base, $as{H21010200011}, "/projects/catalog?project=$pid");
is($ps, 200, 'a hospital\'s catalog page');
unlike($html, qr{import-form|upload-template}, '... without the import or the template upload');

my $pdf = Encode::encode_utf8("%PDF-1.4\n% 承诺书模板\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n");
($st, $d) = call('lcb_admin', 'POST', "/api/files/upload?project=$other&kind=commitment_template&name=t.pdf",
                 $pdf, 'application/octet-stream');
is($st, 201, 'the alliance uploads the commitment letter\'s template') or diag(explain $d);
($ps, $html) = vbp_page($base, $as{lcb_admin}, "/projects/catalog?project=$other");
like($html, qr{id="template-download"}, '... the catalog page offers it');
my $hosp = vbp_sql("SELECT o.code FROM orgs o JOIN review_items i ON i.org_id = o.id WHERE i.project_id = $other LIMIT 1");
vbp_setup("user $hosp password=$pw must_change=0 status=active");
my $t = vbp_setup("login $hosp $pw");
($ps, $html) = vbp_page($base, { sid => $t->{'@SID@'} }, "/filing?project=$other");
like($html, qr{href="/api/files/download\?project=$other&amp;kind=commitment_template" id="template-download"},
     '... and so does the filing page of a hospital of that project');

vbp_sql("DELETE FROM projects WHERE name LIKE 't33 %'");
done_testing();
