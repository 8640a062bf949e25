# What an attack on the reporting area found, each fixed and held here:
# 目录下载 past the answer buffer, a re-import that rewrote filed lines,
# uploads that filled the store, names of items out of scope, the export
# routes' errors, the catalog's CSV round trip -- and files viewed inline.

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

my $pw = 'Attack@Test2026';
my %as = vbp_sign_in($pw, qw(lcb_admin ln_admin ah_admin sy_admin dl_admin H21010200011 H21010200022));
sub call { my $who = shift; return vbp_api($base, $as{$who}, @_) }
sub uri { my $s = shift; utf8::encode($s); $s =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge; $s }
sub upload {
    my ($who, $q, $body) = @_;
    return call($who, 'POST', "/api/files/upload?$q", $body, 'application/octet-stream');
}
my $store = "$VbpState/files";
sub stored { my $sha = shift; return -f "$store/" . substr($sha, 0, 2) . '/' . substr($sha, 2) }

# --- 目录下载 of a catalog far larger than an answer frame ---------------------

my $pid = vbp_open_project('t40 攻击', 'A', 2, 2);
my $header = "流水号,大项,小项,注册证,生产企业,产品名称,规格,单位\n";
my $n = 3000;
my $csv = $header . join '', map {
    sprintf "A%05d,生化类体外诊断试剂,肝功能检测项目,国械注准2026%06d,某某生物技术股份有限公司,%s,%s,盒\n", $_, int($_ / 4), 
        $_ == 7 ? '=1+1' : "丙氨酸氨基转移酶测定试剂盒（速率法）第${_}号",
        $_ == 8 ? '-20℃保存' : '2×40ml+1×10ml'
} 1 .. $n;
utf8::encode($csv);
vbp_sql("DELETE FROM catalog_lines WHERE project_id = $pid");
my ($st, $d) = call('lcb_admin', 'POST', "/api/catalog/import?project=$pid", $csv, 'text/csv');
is $st, 200, "a catalog of $n lines is imported";

my ($s2, undef, $raw, $h) = call('H21010200011', 'GET', "/api/catalog/export?project=$pid");
is $s2, 200, "... and downloaded whole by a hospital (" . length($raw) . " bytes, past the 256k answer buffer)";
cmp_ok length($raw), '>', 262144, '... the file is larger than the buffer that broke it';
like $h->{'content-type'}, qr{^text/csv; charset=utf-8}, '... as CSV';
like $h->{'content-disposition'}, qr/^attachment; filename="file.csv"; filename\*=UTF-8''/, '... an attachment';
my @rows = split /\r\n/, Encode::decode_utf8($raw);
is scalar(@rows), $n + 1, '... every line and the header';
like $rows[7], qr/^"A00007",.*"'=1\+1"/, '... a cell Excel would take for a formula is guarded';

($st, $d) = call('lcb_admin', 'POST', "/api/catalog/import?project=$pid", $raw, 'text/csv');
is $st, 200, 'the download imported again';
is_deeply [@$d{qw(inserted updated unchanged)}], [0, 0, $n], '... changes nothing: the guard comes off on import';
is Encode::decode_utf8(scalar vbp_sql("SELECT product_name FROM catalog_lines WHERE project_id = $pid AND serial = 'A00007'")),
    '=1+1', '... the value stays as it was';
is Encode::decode_utf8(scalar vbp_sql("SELECT spec FROM catalog_lines WHERE project_id = $pid AND serial = 'A00008'")),
    '-20℃保存', '... a value beginning with a minus too';
is scalar(() = glob("$store/out/*.csv")) > 0, 1, 'the made file waits in the store for nginx to send it';

# --- a filed line keeps its meaning ---------------------------------------------

my $line = vbp_sql("SELECT id FROM catalog_lines WHERE project_id = $pid AND serial = 'A00001'");
($st, $d) = call('H21010200011', 'POST', '/api/filing/save', { project => $pid,
    lines => [{ catalog_line_id => $line, last_year => 10, demand => 11, in_use => 1 }] });
is $st, 200, 'a hospital files A00001';
(my $changed = Encode::decode_utf8($raw)) =~ s/"国械注准2026000000","某某生物技术股份有限公司"/"国械注准2099999999","另一家公司"/;
$changed =~ s/^\x{feff}//;
my $before = vbp_sql("SELECT md5(string_agg(concat_ws(',', serial, certificate, manufacturer), ';' ORDER BY serial)) FROM catalog_lines WHERE project_id = $pid");
($st, $d) = call('lcb_admin', 'POST', "/api/catalog/import?project=$pid", Encode::encode_utf8($changed), 'text/csv');
is $st, 422, 'a re-import changing the certificate and maker of filed lines is refused';
my ($row) = grep { $_->{message} =~ /A00001/ } @{ $d->{error}{rows} };
like $row->{message} // '', qr/流水号 A00001 已有医疗机构填报，不能修改其注册证、生产企业/, '... naming the line and what it would change';
my @unfiled = grep { $_->{message} =~ /A00002/ } @{ $d->{error}{rows} };
is scalar(@unfiled), 0, '... not a line nobody filed';
is vbp_sql("SELECT md5(string_agg(concat_ws(',', serial, certificate, manufacturer), ';' ORDER BY serial)) FROM catalog_lines WHERE project_id = $pid"),
    $before, '... and nothing changed';

# --- uploads: checked before stored, replaced ones removed, a quota, a rate ----

my $item = vbp_sql("SELECT i.id FROM review_items i JOIN orgs o ON o.id = i.org_id WHERE i.project_id = $pid AND o.code = 'H21010200011'");
my $uid = vbp_sql("SELECT id FROM users WHERE username = 'H21010200011'");
vbp_redis('DEL', "vbp:uploads:$uid");
my @shas;
for my $i (1 .. 3) {
    my $pdf = "%PDF-1.4\n% t40 letter $i $$\n%%EOF\n";
    ($st, $d) = upload('H21010200011', "project=$pid&kind=commitment&name=" . uri("承诺书$i.pdf"), $pdf);
    is $st, 201, "承诺书 $i uploaded";
    push @shas, $d->{sha256};
}
ok !stored($shas[0]) && !stored($shas[1]), 'the two it replaced are gone from the store';
ok stored($shas[2]), '... the one that stands is there';
is vbp_sql("SELECT count(*) FROM uploads WHERE sha256 IN ('$shas[0]', '$shas[1]')"), 0, '... and their rows';

# the same content named by another hospital stays when the first replaces it
my $shared = "%PDF-1.4\n% t40 shared $$\n%%EOF\n";
($st, $d) = upload('H21010200011', "project=$pid&kind=summary", $shared);
my $sha_shared = $d->{sha256};
($st, $d) = upload('H21010200022', "project=$pid&kind=summary", $shared);
is $st, 201, 'a second hospital uploads the same content';
($st, $d) = upload('H21010200011', "project=$pid&kind=summary", "%PDF-1.4\n% t40 other $$\n%%EOF\n");
ok stored($sha_shared), '... the first replacing its copy leaves the file the second names';

# refused by the chain before a byte is written
vbp_sql("UPDATE review_items SET state = 'submitted' WHERE id = $item");
my $files = scalar(() = glob("$store/*/*"));
($st, $d) = upload('H21010200011', "project=$pid&kind=commitment", "%PDF-1.4\n% t40 late $$\n%%EOF\n");
is $st, 409, 'an upload to a submitted filing: 409';
is scalar(() = glob("$store/*/*")), $files, '... and nothing was stored';
vbp_sql("UPDATE review_items SET state = 'draft' WHERE id = $item");

# the quota: the org's files standing in the project weigh 200 MB at most
vbp_sql("INSERT INTO uploads (sha256, bytes, content_type) VALUES (repeat('d', 64), 209500000, 'application/pdf')"
        . " ON CONFLICT DO NOTHING");
vbp_sql("INSERT INTO item_files (item_id, kind, certificate, sha256, filename) VALUES"
        . " ($item, 'in_use_note', '国械注准2026000000', repeat('d', 64), 'big.pdf')");
$files = scalar(() = glob("$store/*/*"));
($st, $d) = upload('H21010200011', "project=$pid&kind=in_use_note&certificate=" . uri('国械注准2026000001'),
                   "%PDF-1.4\n" . ('x' x 500000) . "\n%%EOF\n");
is $st, 413, 'past the quota: 413';
like $d->{error}{fields}{file}, qr/本单位在本项目中上传的文件合计不能超过 200MB/, '... said at the file';
is scalar(() = glob("$store/*/*")), $files, '... nothing stored';
vbp_sql("DELETE FROM item_files WHERE sha256 = repeat('d', 64)");
vbp_sql("DELETE FROM uploads WHERE sha256 = repeat('d', 64)");

# the rate: 60 uploads an account in ten minutes
vbp_redis('SET', "vbp:uploads:$uid", 60);
($st, $d) = upload('H21010200011', "project=$pid&kind=commitment", "%PDF-1.4\n% t40 rate $$\n%%EOF\n");
is $st, 429, 'the 61st upload in ten minutes: 429';
vbp_redis('DEL', "vbp:uploads:$uid");

# --- files viewed in the browser, and the template's name ----------------------

my ($s3, undef, undef, $hv) = call('sy_admin', 'GET', "/api/files/download?item=$item&kind=commitment&inline=1");
is $s3, 200, 'the city views the letter';
like $hv->{'content-disposition'}, qr/^inline; filename="file.pdf"/, '... inline';
like $hv->{'content-type'}, qr{^application/pdf}, '... as a PDF';
like $hv->{'content-security-policy'} // '', qr/default-src 'none'/, '... which may run nothing of its own';
is $hv->{'x-content-type-options'}, 'nosniff', '... nor be taken for another type';

($st, $d) = upload('lcb_admin', "project=$pid&kind=commitment_template", "%PDF-1.4\n% t40 template\n%%EOF\n");
is $st, 201, 'the alliance uploads the letter\'s template';
($s3, undef, undef, $hv) = call('H21010200011', 'GET', "/api/files/download?project=$pid&kind=commitment_template");
like $hv->{'content-disposition'}, qr/filename\*=UTF-8''.*%E6%A8%A1%E6%9D%BF\.pdf$/, '... downloaded as 承诺书模板.pdf';
like $hv->{'content-type'}, qr{^application/pdf}, '... of type PDF';

# --- out of scope is nameless -------------------------------------------------------

my $other = vbp_sql("SELECT i.id FROM review_items i JOIN orgs o ON o.id = i.org_id WHERE i.project_id = $pid"
                    . " AND o.region_id = (SELECT id FROM regions WHERE code = '210200') LIMIT 1");
($st, $d) = call('sy_admin', 'POST', '/api/review/act', { action => 'approve', ids => [$other, 999999999] });
is $st, 404, 'acting on items of another city: 404';
ok !grep({ exists $_->{name} || exists $_->{state} } @{ $d->{error}{items} }), '... naming none of them, nor its state';
unlike Encode::decode_utf8(JSON::PP->new->utf8->encode($d)), qr/大连|沈阳|辽宁|医院/, '... nowhere in the answer';

# --- a batch with rows the action does not apply to names them all ----------------

my @sy = vbp_sql("SELECT i.id FROM review_items i JOIN orgs o ON o.id = i.org_id WHERE i.project_id = $pid"
                 . " AND o.region_id = (SELECT id FROM regions WHERE code = '210100') ORDER BY i.id LIMIT 3");
vbp_sql("UPDATE review_items SET state = 'submitted' WHERE id = $sy[0]");
vbp_sql("UPDATE review_items SET state = 'exempt' WHERE id IN ($sy[1], $sy[2])");
my $events = vbp_sql("SELECT count(*) FROM review_events");
($st, $d) = call('sy_admin', 'POST', '/api/review/act', { action => 'approve', ids => [map { 0 + $_ } @sy] });
is $st, 409, 'a city approves a batch with two exempt rows in it: 409';
my @names = map { Encode::decode_utf8(scalar vbp_sql("SELECT o.name FROM review_items i JOIN orgs o ON o.id = i.org_id WHERE i.id = $_")) } @sy[1, 2];
like $d->{error}{message}, qr/^选中的记录中有 2 项不能审核通过，未做任何修改：\Q$names[0]\E（无需上报）、\Q$names[1]\E（无需上报）$/,
     '... the message names both, with their state';
is vbp_sql("SELECT count(*) FROM review_events"), $events, '... nothing moved';
is vbp_sql("SELECT state FROM review_items WHERE id = $sy[0]"), 'submitted', '... not even the row that could';

# --- the export routes answer their refusals in the error format ------------------

my ($s4, $d4, $r4, $h4) = call('H21010200011', 'GET', "/api/review/export?project=$pid");
is $s4, 403, 'a hospital asks for the summary CSV: 403';
like $h4->{'content-type'}, qr{^application/json}, '... as JSON';
is $d4->{error}{code}, 'forbidden', '... in the error format';
($s4, $d4, $r4, $h4) = call('H21010200011', 'GET', '/api/catalog/export?project=999999999');
is $s4, 404, 'the catalog of no project: 404';
is $d4->{error}{code}, 'not_found', '... in the error format';
($s4, $d4, $r4, $h4) = call('ah_admin', 'GET', "/api/review/export?project=$pid");
is $s4, 404, 'another province\'s project: 404, as if not there';
($s4, $r4, $h4) = vbp_page($base, $as{H21010200011}, "/projects/catalog/export?project=999999999");
is $s4, 404, 'the page route refuses with the error page';
like $h4->{'content-type'}, qr{^text/html}, '... in HTML';

vbp_sql("DELETE FROM projects WHERE id = $pid");
done_testing();
