# Demand reporting through the JSON API: a project, a hospital's filing and
# the four-level review chain, with every rule of the chain -- the state
# guard, the window, the level above locked, all-or-nothing batches, the
# reason, scope -- and a return from the province down to one hospital and
# back up.  Every refused call leaves the data as it was (a checksum of the
# chain's tables before and after).

use strict;
use utf8;
use warnings;
use lib 't/lib';
use VBP::Test;
use Test::More;
use JSON::PP;
use POSIX ();

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);
my $base = vbp_nginx_start();
END { vbp_nginx_stop() }
my $pw = 'Report@Test2026';

# --- fixtures -------------------------------------------------------------

vbp_sql("DELETE FROM projects WHERE name LIKE 't30%'");
vbp_sql("UPDATE users SET status = 'active'");
vbp_sql("DELETE FROM login_locks");

my %as = vbp_sign_in($pw, qw(lcb_admin ln_admin ah_admin sy_admin dl_admin as_admin lnsbj_admin
                 H21010200011 H21010200022 H34010200011));

sub call { my $who = shift; return vbp_api($base, $as{$who}, @_) }
sub get  { my ($who, $path, %q) = @_;
           my $qs = join '&', map { "$_=" . (defined $q{$_} ? $q{$_} : '') } sort keys %q;
           return call($who, 'GET', $qs ? "$path?$qs" : $path) }
sub post { my ($who, $path, $body) = @_; return call($who, 'POST', $path, $body) }

# China time: the machine runs UTC; the project's times are Asia/Shanghai
sub cn { my $t = time + 8 * 3600 + $_[0] * 86400; return POSIX::strftime('%Y-%m-%d %H:%M', gmtime($t)) }

# the chain's tables as one checksum: a refusal must not change it
sub snapshot {
    return join '|', map { vbp_sql($_) }
        "SELECT md5(coalesce(string_agg(concat_ws(',', id, state, state_before, handled_at), ';' ORDER BY id), '')) FROM review_items",
        "SELECT count(*) FROM review_events",
        "SELECT md5(coalesce(string_agg(concat_ws(',', item_id, catalog_line_id, last_year, demand, in_use, change_note), ';' ORDER BY item_id, catalog_line_id), '')) FROM filing_lines",
        "SELECT md5(coalesce(string_agg(concat_ws(',', item_id, last_year_total, demand_total, lines, beyond, contact), ';' ORDER BY item_id), '')) FROM filings";
}

my %windows = map { $_ => cn($_ =~ /opens/ ? -1 : 10) }
    qw(file_opens file_closes city_opens city_closes province_opens province_closes
       alliance_opens alliance_closes);

# --- projects ---------------------------------------------------------------

my ($st, $d) = post('lcb_admin', '/api/projects/create', {
    name => 't30 体外诊断试剂报量', product_line => 'ivd', threshold_pct => 'x',
    provinces => ['210000', '210100'], %windows, file_closes => '2026-02-30 10:00' });
is $st, 422, 'a project with bad fields: 422';
is $d->{error}{fields}{threshold_pct}, '需求量阈值应为 0 到 1000 的整数（%）', '... the threshold says its rule';
is $d->{error}{fields}{file_closes}, '不是有效的时间', '... 2 月 30 日 is no day';

($st, $d) = post('lcb_admin', '/api/projects/create', {
    name => 't30 体外诊断试剂报量', product_line => 'ivd', threshold_pct => 30,
    provinces => ['210000', '210100'], %windows });
is $st, 422, 'a city is not a province';
like $d->{error}{fields}{provinces}, qr/210100/, '... named in the message';

($st, $d) = post('lcb_admin', '/api/projects/create', {
    name => 't30 体外诊断试剂报量', product_line => 'ivd', threshold_pct => 30,
    provinces => ['210000'], %windows, city_closes => cn(-2) });
is $st, 422, 'a window that closes before it opens';
is $d->{error}{fields}{city_closes}, '截止时间应晚于开始时间', '... said at its closing field';

($st, $d) = post('lcb_admin', '/api/projects/create', {
    name => 't30 过去的项目', product_line => 'ivd', threshold_pct => 30,
    provinces => ['210000'], %windows, file_opens => cn(-9), file_closes => cn(-8) });
is $st, 422, 'a project whose filing closed already';
is $d->{error}{fields}{file_closes}, '截止时间已过，请填写将来的时间', '... said at the field';

($st, $d) = post('lcb_admin', '/api/projects/create', {
    name => 't30 顺序', product_line => 'ivd', threshold_pct => 30,
    provinces => ['210000'], %windows, province_opens => cn(-2) });
is $st, 422, 'a province window opening before the city\'s';
is $d->{error}{fields}{province_opens}, '开始时间应不早于市级审核的开始时间', '... said at its field';

($st, $d) = post('ln_admin', '/api/projects/create', {
    name => 't30 x', product_line => 'ivd', threshold_pct => 30, provinces => ['210000'], %windows });
is $st, 403, 'a province cannot create a project';

($st, $d) = post('lcb_admin', '/api/projects/create', {
    name => 't30 体外诊断试剂报量', product_line => 'ivd', threshold_pct => 30,
    provinces => ['210000'], %windows });
is $st, 201, 'the alliance creates a project';
my $pid = $d->{id};

($st, $d) = post('lcb_admin', '/api/projects/create', {
    name => 't30 体外诊断试剂报量', product_line => 'ivd', threshold_pct => 30,
    provinces => ['210000'], %windows });
is $st, 409, 'a second project of one name: 409';

($st, $d) = post('lcb_admin', '/api/projects/update', {
    id => $pid, name => 't30 体外诊断试剂报量', product_line => 'ivd', threshold_pct => 50,
    provinces => ['210000'], %windows });
is $st, 422, 'the threshold of a running project cannot change';
is $d->{error}{fields}{threshold_pct}, '项目已执行中或已结束，需求量阈值不可修改', '... said at the field';

($st, $d) = post('lcb_admin', '/api/projects/update', {
    id => $pid, name => 't30 体外诊断试剂报量', product_line => 'ivd', threshold_pct => 30,
    provinces => ['210000'], %windows, file_closes => cn(5) });
is $st, 422, 'a window of a running project cannot be shortened';

($st, $d) = post('lcb_admin', '/api/projects/update', {
    id => $pid, name => 't30 体外诊断试剂报量', product_line => 'ivd', threshold_pct => 30,
    provinces => ['210000'], %windows, file_closes => cn(12) });
is $st, 422, 'the filing window cannot close after the city review closes';
is $d->{error}{fields}{city_closes}, '截止时间应不早于医疗机构填报的截止时间', '... said at the city\'s closing field';

($st, $d) = post('lcb_admin', '/api/projects/update', {
    id => $pid, name => 't30 体外诊断试剂报量', product_line => 'ivd', threshold_pct => 30,
    provinces => ['210000'], %windows, file_closes => cn(12), city_closes => cn(12),
    province_closes => cn(12), alliance_closes => cn(12) });
is $st, 200, 'it can be extended, with the windows above it';
is vbp_sql("SELECT count(*) FROM audit_log WHERE action = 'project_updated' AND target_id = '$pid'"
           . " AND detail ? 'file_closes'"), 1, '... and the change is audited';

($st, $d) = get('H21010200011', '/api/projects', q => 't30');
is $d->{total}, 1, 'a hospital of Liaoning sees the project';
($st, $d) = get('H34010200011', '/api/projects', q => 't30');
is $d->{total}, 0, 'a hospital of Anhui does not';
($st, $d) = get('ah_admin', '/api/projects/get', id => $pid);
is $st, 404, "... nor does Anhui's bureau";

# the catalog: two certificates, six lines
vbp_sql("INSERT INTO catalog_lines (project_id, serial, category, subcategory, certificate, manufacturer,"
        . " product_name, spec, unit) SELECT $pid, 'S' || lpad(g::text, 4, '0'), '生化', '肝功能',"
        . " CASE WHEN g <= 3 THEN '国械注准A' ELSE '国械注准B' END, '企业' || g, '试剂' || g, '100T', '盒'"
        . " FROM generate_series(1, 6) g");
my %line = map { split /\|/ } vbp_sql("SELECT serial, id FROM catalog_lines WHERE project_id = $pid");

my ($item) = vbp_sql("SELECT i.id FROM review_items i JOIN orgs o ON o.id = i.org_id"
                     . " WHERE i.project_id = $pid AND o.code = 'H21010200011'");
ok $item, 'every hospital of the province has its filing';

# --- the hospital's filing ----------------------------------------------------

($st, $d) = get('H21010200011', '/api/filing', project => $pid, per_page => 10);
is $st, 200, 'the filing form';
is $d->{state}, 'unfiled', '... 未填报';
is $d->{lines}{total}, 6, '... over the catalog';
is_deeply $d->{line_rules}{columns}, ['in_use'], '... with the columns of its product line';

my $before = snapshot();

for my $bad ([-1, '数量不能为负数'], [1.5, '数量应为整数'], ['abc', '数量应为整数，只能填写数字'],
             ['1.5', '数量应为整数，不能有小数'], ['－３', '数量不能为负数'], ['1,000', '数量应为整数，只能填写数字'],
             [2147483648, '数量过大（最大 2147483647）'], ['９９９９９９９９９９９９９', '数量过大（最大 2147483647）'],
             [{}, '数量应为整数']) {
    ($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid,
        lines => [{ catalog_line_id => $line{S0001}, demand => $bad->[0], in_use => 1 }] });
    is $st, 422, "a quantity of " . (ref $bad->[0] ? 'an object' : $bad->[0]) . ": 422";
    is $d->{error}{fields}{"lines.$line{S0001}.demand"}, $bad->[1], '... at its line and field';
}

($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid,
    lines => [{ catalog_line_id => 999999999, demand => 1, in_use => 1 }] });
is $st, 422, 'a line of no catalog';
is $d->{error}{fields}{'lines.999999999.catalog_line_id'}, '不是本项目目录中的产品', '... said at the line';

($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid,
    lines => [map { { catalog_line_id => $line{S0001}, demand => 1, in_use => 1 } } 1 .. 5000] });
is $st, 413, 'a save of 5,000 lines: 413';
like $d->{error}{message}, qr/一次最多保存 200 行/, '... saying the limit';

($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{S0001}, last_year => 10, demand => 12 },
    { catalog_line_id => $line{S0002}, last_year => 5, demand => 5, in_use => 0 } ] });
is $st, 422, 'rules 1 and 2';
is $d->{error}{fields}{"lines.$line{S0001}.in_use"}, '填写了数量，请选择是否有在用仪器', '... rule 1 at its line';
is $d->{error}{fields}{"lines.$line{S0002}.in_use"}, '上年度采购总数量大于 0，是否有在用仪器不能为“否”', '... rule 2 at its line';

# rule 3 across pages: S0001 saved with yes, S0003 (same certificate) with no
($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{S0001}, last_year => 100, demand => 110, in_use => 1 } ] });
is $st, 200, 'a first line saved';
($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{S0001}, last_year => '１００', demand => ' １１０　', in_use => 1 } ] });
is $st, 200, 'full-width digits and stray spaces, as a Chinese input method types them';
is vbp_sql("SELECT last_year || '/' || demand FROM filing_lines WHERE item_id = $item AND catalog_line_id = $line{S0001}"),
   '100/110', '... read as the numbers meant';
is $d->{demand_total}, 110, '... the totals come back';
is vbp_sql("SELECT state FROM review_items WHERE id = $item"), 'draft', '... 已暂存';

# a page in any order is saved as sent; a line sent twice is refused at
# its field and nothing of the page is kept
($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{S0002}, last_year => 3, demand => 4, in_use => 1 },
    { catalog_line_id => $line{S0001}, last_year => 100, demand => 110, in_use => 1 } ] });
is $st, 200, 'a page sent last line first';
is vbp_sql("SELECT string_agg(last_year || '/' || demand, ',' ORDER BY catalog_line_id) FROM filing_lines"
           . " WHERE item_id = $item AND catalog_line_id IN ($line{S0001}, $line{S0002})"),
   '100/110,3/4', '... both lines as sent';
is $d->{demand_total}, 114, '... and the totals with both';
$before = snapshot();
($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{S0002}, last_year => 3, demand => 9, in_use => 1 },
    { catalog_line_id => $line{S0001}, last_year => 100, demand => 120, in_use => 1 },
    { catalog_line_id => "$line{S0002}", last_year => 3, demand => 8, in_use => 1 } ] });
is $st, 422, 'a line sent twice in one save: 422';
is $d->{error}{fields}{"lines.$line{S0002}.catalog_line_id"}, '同一产品在一次保存中出现了两次', '... said at that line';
ok !exists $d->{error}{fields}{"lines.$line{S0001}.catalog_line_id"}, '... not at the other';
is snapshot(), $before, '... and nothing of the page kept';
($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{S0002} } ] });
is $st, 200, 'the second line emptied';
is $d->{demand_total}, 110, '... and the totals without it';
$before = snapshot();
($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{S0003}, last_year => 0, demand => 5, in_use => 0 } ] });
is $st, 422, 'rule 3: one flag per certificate, against a line saved before';
like $d->{error}{fields}{"lines.$line{S0003}.in_use"}, qr/国械注准A/, '... naming the certificate';
is snapshot(), $before, 'refused saves wrote nothing';

# one 暂存 names every error of the page at once: a value wrong in itself,
# rules 1 and 2 on single lines and rule 3 over the filing, each at its
# line -- and rule 3 not on the certificate's lines that carry no flag
($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{S0002}, last_year => 'x', demand => 5, in_use => 1 },
    { catalog_line_id => $line{S0003}, last_year => 0, demand => 5, in_use => 0 },
    { catalog_line_id => $line{S0004}, last_year => 3, demand => 3 },
    { catalog_line_id => $line{S0005}, last_year => 4, demand => 4, in_use => 0 },
    { catalog_line_id => $line{S0006}, change_note => '备注' } ] });
is $st, 422, 'a page with errors of every kind: one 422';
my $all = $d->{error}{fields};
is $all->{"lines.$line{S0002}.last_year"}, '数量应为整数，只能填写数字', '... the value wrong in itself';
like $all->{"lines.$line{S0003}.in_use"} // '', qr/国械注准A/, '... rule 3 against the line saved before, in the same answer';
is $all->{"lines.$line{S0004}.in_use"}, '填写了数量，请选择是否有在用仪器', '... rule 1';
is $all->{"lines.$line{S0005}.in_use"}, '上年度采购总数量大于 0，是否有在用仪器不能为“否”', '... rule 2';
ok !exists $all->{"lines.$line{S0006}.in_use"}, '... nothing on a line of the certificate without a flag';
like $all->{"lines.$line{S0002}.in_use"} // '', qr/国械注准A/, '... rule 3 on every flagged line of the certificate';
is scalar(keys %$all), 5, '... five errors, no more';
is snapshot(), $before, '... and nothing written';

($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{S0002}, last_year => 50, demand => 200, in_use => 1 },
    { catalog_line_id => $line{S0004}, last_year => 0, demand => 20, in_use => 0 },
    { catalog_line_id => $line{S0005}, last_year => 0, demand => 30, in_use => 0 } ] });
is $st, 200, 'a second page saved';
is_deeply [@$d{qw(last_year_total demand_total lines beyond)}], [150, 360, 4, 3],
    '... totals over both pages; three lines beyond the 30 % threshold';

# --- submit -------------------------------------------------------------------

$before = snapshot();
($st, $d) = post('H21010200011', '/api/filing/submit', { project => $pid, contact => '张三', phone => '024-12345678' });
is $st, 422, 'a submit without the files and notes the rules need';
my $f = $d->{error}{fields};
is $f->{commitment}, '请上传签字盖章的承诺书', '... the commitment letter';
is $f->{summary}, '请上传签字盖章的需求量汇总表', '... the summary sheet';
is $f->{'in_use_note.国械注准B'}, '注册证 国械注准B 无在用仪器，请上传说明文件', '... rule 4 per certificate';
is $f->{"lines.$line{S0002}.change_note"}, '需求量超出阈值，请填写增降幅说明', '... rule 5 per line';
is snapshot(), $before, '... and it is not submitted';

($st, $d) = post('H21010200011', '/api/filing/submit', { project => $pid, contact => '', phone => 'abc' });
is $st, 422, 'contact and phone are checked';
ok $d->{error}{fields}{contact} && $d->{error}{fields}{phone}, '... each at its field';
is $d->{error}{fields}{commitment}, '请上传签字盖章的承诺书',
    '... in the same answer as what the rules miss, so one submit names every field';
is $d->{error}{fields}{"lines.$line{S0002}.change_note"}, '需求量超出阈值，请填写增降幅说明', '... down to the line';
is snapshot(), $before, '... and nothing is submitted';

# --- the files ---------------------------------------------------------------

sub upload {
    my ($who, $body, %q) = @_;
    my $qs = join '&', map { "$_=" . uri($q{$_}) } sort keys %q;
    return call($who, 'POST', "/api/files/upload?$qs", $body, 'application/octet-stream');
}
sub uri { my $s = shift; utf8::encode($s); $s =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge; $s }

my $pdf = "%PDF-1.4\n% 承诺书\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
utf8::encode($pdf);
my $png = "\x89PNG\r\n\x1a\n" . ("\0" x 64);
my $exe = "MZ\x90\0" . ("\0" x 200);

$before = snapshot();
($st, $d) = upload('H21010200011', $exe, project => $pid, kind => 'commitment', name => 'setup.pdf');
is $st, 415, 'a program renamed .pdf is refused by its content';
is $d->{error}{fields}{file}, '只能上传 PDF 或图片（PNG、JPEG）文件', '... said at the field';
($st, $d) = upload('H21010200011', '', project => $pid, kind => 'commitment');
is $st, 422, 'an empty upload is refused';
ok $d->{error}{fields}{file}, '... at the field';
($st, $d) = upload('H21010200011', $pdf, project => $pid, kind => 'brochure');
is $st, 422, 'an unknown kind of file is refused';
($st, $d) = upload('H21010200011', $pdf, project => $pid, kind => 'in_use_note');
is $st, 422, 'the in-use note names its certificate';
ok $d->{error}{fields}{certificate}, '... at the field';
($st, $d) = upload('H21010200011', $pdf, project => $pid, kind => 'in_use_note', certificate => '国械注准ZZZ');
is $st, 422, '... one of the project\'s catalog';
($st, $d) = upload('H34010200011', $pdf, project => $pid, kind => 'commitment');
is $st, 404, 'a hospital outside the project uploads nothing';
($st, $d) = upload('sy_admin', $pdf, project => $pid, kind => 'commitment');
is $st, 403, 'a city uploads no hospital\'s letter';
($st, $d) = upload('sy_admin', $pdf, project => $pid, kind => 'commitment_template');
is $st, 403, '... nor the alliance\'s template';
($st, $d, my $raw) = upload('H21010200011', 'x' x (50 * 1024 * 1024), project => $pid, kind => 'summary');
is $st, 413, 'a 50 MB upload is refused';
like $raw, qr/20M/, '... naming the limit';
is snapshot(), $before, 'no refused upload changed anything';
is vbp_sql("SELECT count(*) FROM item_files WHERE item_id = $item"), 0, '... nor attached a file';

($st, $d) = upload('H21010200011', $pdf, project => $pid, kind => 'commitment', name => '承诺书（签字）.PDF');
is $st, 201, 'the signed commitment letter is uploaded';
is $d->{name}, '承诺书（签字）.pdf', '... under the name the hospital gave, with its type\'s ending';
my $sha = $d->{sha256};
like $sha, qr/^[0-9a-f]{64}$/, '... stored by its SHA-256';
($st, $d) = upload('H21010200011', $png, project => $pid, kind => 'summary', name => 'a"b/../c');
is $st, 201, 'the stamped summary sheet, a scan';
is $d->{name}, '需求量汇总表.png', '... a name with quotes or slashes is not kept';
($st, $d) = upload('H21010200011', $pdf, project => $pid, kind => 'in_use_note', certificate => '国械注准B');
is $st, 201, 'the note for the instrument not in use';
is vbp_sql("SELECT count(*) FROM uploads WHERE sha256 = '$sha'"), 1, 'the same content is stored once';
is vbp_sql("SELECT count(*) FROM audit_log WHERE action = 'file_uploaded' AND target_id = '$item'"), 3,
   'every upload is in the audit log';

my ($h);
($st, $d, $raw, $h) = call('H21010200011', 'GET', "/api/files/download?item=$item&kind=commitment");
is $st, 200, 'the hospital downloads its letter';
is $raw, $pdf, '... the bytes it sent';
is $h->{'content-type'}, 'application/pdf', '... as a PDF';
like $h->{'content-disposition'}, qr/^attachment; filename="file\.pdf"; filename\*=UTF-8''%E6%89%BF%E8%AF%BA/, '... as an attachment with its name';
is $h->{'x-content-type-options'}, 'nosniff', '... never sniffed';
($st, $d, $raw, $h) = call('sy_admin', 'GET', "/api/files/download?item=$item&kind=summary");
is $st, 200, 'its city sees the summary sheet';
is $h->{'content-type'}, 'image/png', '... a PNG';
for my $who (qw(dl_admin H21010200022 ah_admin)) {
    ($st) = call($who, 'GET', "/api/files/download?item=$item&kind=commitment");
    is $st, 404, "$who cannot download it";
}
($st) = call('lcb_admin', 'GET', "/api/files/download?item=$item&kind=commitment");
is $st, 200, 'the alliance can';
($st) = call('H21010200011', 'GET', "/.vbp-files/" . substr($sha, 0, 2) . '/' . substr($sha, 2));
is $st, 404, 'the store itself is not reachable from outside';
($st) = call('H21010200011', 'GET', "/api/files/download?item=$item&kind=in_use_note&certificate=" . uri('国械注准B'));
is $st, 200, 'the in-use note by its certificate';

($st, $d) = upload('lcb_admin', $pdf, project => $pid, kind => 'commitment_template');
is $st, 201, 'the alliance uploads the commitment letter\'s template';
($st, $d, $raw, $h) = call('H21010200011', 'GET', "/api/files/download?project=$pid&kind=commitment_template");
is $st, 200, 'a hospital of the project downloads it';
($st) = call('H34010200011', 'GET', "/api/files/download?project=$pid&kind=commitment_template");
is $st, 404, '... one outside the project does not';
($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid, lines => [
    map { { catalog_line_id => $line{$_->[0]}, last_year => $_->[1], demand => $_->[2], in_use => $_->[3],
            change_note => '新开展项目' } }
    ['S0002', 50, 200, 1], ['S0004', 0, 20, 0], ['S0005', 0, 30, 0] ] });
is $st, 200, 'the notes of the lines beyond the threshold saved';

($st, $d) = post('H21010200011', '/api/filing/submit', { project => $pid, contact => '张三', phone => '024-12345678' });
is $st, 200, 'submitted';
is vbp_sql("SELECT state FROM review_items WHERE id = $item"), 'submitted', '... 已提交';

($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{S0006}, demand => 1, in_use => 1 } ] });
is $st, 409, 'a save after the submit: 409';
is $d->{error}{message}, '「中国医科大学附属第一医院」当前状态为「已提交」，不能暂存', '... naming the state';

# --- scope --------------------------------------------------------------------

$before = snapshot();
($st, $d) = get('dl_admin', '/api/review/item', id => $item);
is $st, 404, "Dalian cannot read a Shenyang hospital's filing";
($st, $d) = post('dl_admin', '/api/review/act', { action => 'approve', ids => [$item] });
is $st, 404, '... nor approve it';
($st, $d) = post('ln_admin', '/api/review/act', { action => 'approve', ids => [$item] });
is $st, 403, 'the province cannot approve a hospital (the city does)';
($st, $d) = post('H21010200022', '/api/review/act', { action => 'approve', ids => [$item] });
is $st, 403, 'a hospital has no review permission';
($st, $d) = get('H21010200022', '/api/filing', project => $pid);
is $d->{id} == $item ? 1 : 0, 0, 'another hospital reads its own filing, not this one';
is snapshot(), $before, 'nothing changed';

# --- the city -------------------------------------------------------------------

($st, $d) = get('sy_admin', '/api/review/items', project => $pid, per_page => 100);
is $st, 200, "the city's list";
my @sy = @{$d->{items}};
is scalar(@sy), vbp_sql("SELECT count(*) FROM orgs o JOIN regions r ON r.id = o.region_id"
                        . " WHERE r.code = '210100' AND o.kind = 'hospital'"), '... holds exactly its hospitals';
my ($row) = grep { $_->{id} == $item } @sy;
is $row->{demand_total}, 360, '... with the totals of the filing';
my @others = map { $_->{id} } grep { $_->{id} != $item } @sy;

$before = snapshot();
($st, $d) = post('sy_admin', '/api/review/act', { action => 'approve', ids => [$item, $others[0]] });
is $st, 409, 'a batch with one unsubmitted filing: 409, nothing approved';
is snapshot(), $before, '... all or nothing';

($st, $d) = post('sy_admin', '/api/review/act', { action => 'return', ids => [$item] });
is $st, 422, 'a return without a reason';
is $d->{error}{fields}{reason}, '请填写退回修改的原因', '... asks for it';

($st, $d) = post('sy_admin', '/api/review/submit', { project => $pid });
is $st, 409, 'the city cannot submit before every hospital is approved';
like $d->{error}{message}, qr/以下单位尚未审核通过/, '... and lists who blocks';

($st, $d) = post('sy_admin', '/api/review/act', { action => 'approve', ids => [$item] });
is $st, 200, 'approved';
($st, $d) = post('sy_admin', '/api/review/act', { action => 'approve', ids => [$item] });
is $st, 409, 'approved twice: 409';
is $d->{error}{state}, '审核通过', '... naming the state';

my $exempt_before = snapshot();
($st, $d) = post('sy_admin', '/api/review/act', { action => 'exempt', ids => \@others });
is $st, 422, '取消上报 without a reason: 422';
is $d->{error}{fields}{reason}, '请填写取消上报的原因', '... asked at the reason';
is snapshot(), $exempt_before, '... nothing changed';
($st, $d) = post('sy_admin', '/api/review/act', { action => 'exempt', ids => \@others, reason => '本年度未开展该类检验' });
is $st, 200, 'the other hospitals 无需上报, with a reason';

# 需求量信息确认: what the submission carries, checked once more
($st, $d) = get('sy_admin', '/api/review/confirm', project => $pid, region => '210200', state => 'exempt');
is $st, 200, '需求量信息确认';
is_deeply [map { $_->{id} } @{ $d->{items} }], [$item + 0],
    '... lists the approved hospital only (its own city, whatever region or state is asked)';
is_deeply [@{ $d->{confirm} }{qw(approved exempt blocking must_report)}], [1, scalar @others, 0, 1],
    '... 1 approved, the others 无需上报, nobody blocking';
is scalar(@{ $d->{confirm}{exempted} }), scalar @others, '... each hospital taken out listed';
is $d->{confirm}{exempted}[0]{reason}, '本年度未开展该类检验', '... with the reason it was taken out for';
is_deeply [@{ $d->{confirm} }{qw(last_year_total demand_total)}],
    [vbp_sql("SELECT last_year_total FROM filings WHERE item_id = $item"), vbp_sql("SELECT demand_total FROM filings WHERE item_id = $item")],
    '... the totals are the approved filing\'s';
is $d->{confirm}{own_state}, '待提交', '... and the city has not submitted yet';
for my $who (qw(ln_admin lcb_admin)) {
    ($st) = get($who, '/api/review/confirm', project => $pid);
    is $st, 403, "$who has no city confirmation";
}
($st) = get('H21010200011', '/api/review/confirm', project => $pid);
is $st, 403, '... nor a hospital';
($st, $d) = get('dl_admin', '/api/review/confirm', project => $pid, region => '210100');
ok $st == 200 && !grep({ $_->{id} == $item } @{ $d->{items} }) && $d->{confirm}{approved} == 0,
    "Dalian's confirmation never carries Shenyang's approved hospital, even asking for 210100";
($st, $d) = get('sy_admin', '/api/review/confirm', project => $pid + 100000);
is $st, 404, 'a project that is not the city\'s: 404';
($st, $d) = get('sy_admin', '/api/review/confirm', project => 'x');
is $st, 422, 'a project that is no id: 422';
ok $d->{error}{fields}{project}, '... said at the field';
($st, $d) = post('sy_admin', '/api/review/submit', { project => $pid });
is $st, 200, 'the city submits to the province';
($st, $d) = post('sy_admin', '/api/review/act', { action => 'revoke', ids => [$item] });
is $st, 409, 'after the submit the city changes nothing';
is $d->{error}{code}, 'locked', '... the level above holds it';
($st, $d) = post('sy_admin', '/api/review/withdraw', { project => $pid });
is $st, 200, 'the city withdraws its unreviewed submission';
($st, $d) = post('sy_admin', '/api/review/submit', { project => $pid });
is $st, 200, '... and submits again';

# --- the province ---------------------------------------------------------------

($st, $d) = get('ln_admin', '/api/review/summary', project => $pid);
is $st, 200, "the province's summary";
my ($sy) = grep { $_->{region_code} eq '210100' } @{$d->{items}};
is $sy->{demand_total}, vbp_sql("SELECT sum(l.demand) FROM filing_lines l JOIN review_items i ON i.id = l.item_id"
                                . " WHERE i.project_id = $pid AND i.scope_path = (SELECT path FROM regions WHERE code = '210100')"
                                . " AND i.state <> 'exempt'"), "... Shenyang's total is the sum of its lines";
is $sy->{hospitals}, 1, '... counting only hospitals that must report';

($st, $d) = post('ln_admin', '/api/review/act', { action => 'return', ids => [$sy->{id}], reason => '数据偏高，请复核' });
is $st, 200, 'the province returns Shenyang';

# the return reopens the city: it returns the one hospital
($st, $d) = post('sy_admin', '/api/review/act', { action => 'return', ids => [$item], reason => 'S0002 请复核' });
is $st, 200, 'the city returns the hospital';
($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{S0002}, last_year => 50, demand => 60, in_use => 1, change_note => '' } ] });
is $st, 200, 'the hospital corrects';
($st, $d) = post('H21010200011', '/api/filing/submit', { project => $pid, contact => '张三', phone => '024-12345678' });
is $st, 422, '... and cannot resubmit with the summary sheet signed before';
is $d->{error}{fields}{summary}, '数据已修改，请重新上传签字盖章的需求量汇总表', '... said at the sheet';
($st, $d) = get('H21010200011', '/api/filing', project => $pid);
my ($sheet) = grep { $_->{kind} eq 'summary' } @{$d->{files}};
ok $sheet->{stale}, '... which the page marks';
my ($check) = grep { $_->{key} eq 'summary' } @{$d->{checklist}};
ok !$check->{done}, '... and the checklist does not tick';
($st) = upload('H21010200011', $png, project => $pid, kind => 'summary', name => 'sheet2.png');
is $st, 201, 'the hospital uploads the sheet signed again';
($st, $d) = post('H21010200011', '/api/filing/submit', { project => $pid, contact => '张三', phone => '024-12345678' });
is $st, 200, '... and resubmits';
($st, $d) = post('sy_admin', '/api/review/act', { action => 'approve', ids => [$item] });
is $st, 200, 'the city approves';
($st, $d) = post('sy_admin', '/api/review/submit', { project => $pid });
is $st, 200, '... and resubmits to the province';

# the other cities: nobody must report there (with the suite's other
# files, Liaoning may have more cities than the demo's: their bureaus too)
($st, $d) = get('ln_admin', '/api/review/summary', project => $pid);
my %known = map { $_ => 1 } qw(210100 210200 210300 219900);
my @other_cities = qw(dl_admin as_admin lnsbj_admin);
for my $c (grep { !$known{$_->{region_code}} } @{$d->{items}}) {
    my $u = vbp_sql("SELECT u.username FROM users u JOIN orgs o ON o.id = u.org_id JOIN regions r ON r.id = o.region_id"
                    . " WHERE r.code = '$c->{region_code}' AND o.kind = 'city_bureau' AND u.parent_user_id IS NULL ORDER BY u.id LIMIT 1");
    next unless $u;
    vbp_setup("user $u password=$pw must_change=0 status=active");
    my $t = vbp_setup("login $u $pw");
    $as{$u} = { sid => $t->{'@SID@'}, csrf => $t->{'@CSRF@'} };
    push @other_cities, $u;
}
for my $city (@other_cities) {
    while (1) {   # other test files may have left many hospitals here
        ($st, $d) = get($city, '/api/review/items', project => $pid, per_page => 100, state => 'unfiled');
        my @ids = map { $_->{id} } @{$d->{items}};
        last unless @ids;
        ($st) = post($city, '/api/review/act', { action => 'exempt', ids => \@ids, reason => '无此类业务' });
        last unless $st == 200;
    }
    ($st, $d) = post($city, '/api/review/submit', { project => $pid });
    is $st, 200, "$city submits";
}

($st, $d) = get('ln_admin', '/api/review/summary', project => $pid);
my @cities = map { $_->{id} } @{$d->{items}};
($st, $d) = post('ln_admin', '/api/review/act', { action => 'approve', ids => \@cities });
is $st, 200, 'the province approves its cities in one batch';

($st, $d) = post('ln_admin', '/api/review/submit', { project => $pid });
is $st, 422, 'the province submits only with its stamped summary';
is $d->{error}{fields}{province_summary}, '请先上传盖章的汇总数据', '... said at the field';
($st, $d) = upload('ln_admin', $pdf, project => $pid, kind => 'province_summary');
is $st, 201, 'the province uploads its stamped summary';
($st) = call('sy_admin', 'GET', "/api/files/download?item=" . vbp_sql("SELECT id FROM review_items WHERE project_id = $pid AND level = 'province' AND region_id = (SELECT id FROM regions WHERE code = '210000')") . "&kind=province_summary");
is $st, 404, '... which its cities do not download';
($st, $d) = post('ln_admin', '/api/review/submit', { project => $pid });
is $st, 200, 'the province submits to the alliance';

# --- the alliance ---------------------------------------------------------------

($st, $d) = get('lcb_admin', '/api/review/summary', project => $pid);
is $st, 200, 'the national summary';
my ($ln) = grep { $_->{region_code} eq '210000' } @{$d->{items}};
is $ln->{demand_total}, 220, '... Liaoning: the corrected lines (110 + 60 + 20 + 30)';
($st, $d) = post('lcb_admin', '/api/review/act', { action => 'approve', ids => [$ln->{id}] });
is $st, 200, 'the alliance approves the province';

# --- history ---------------------------------------------------------------------

($st, $d) = get('H21010200011', '/api/filing', project => $pid);
my @ev = map { "$_->{action}:$_->{to}" } @{$d->{events}};
is_deeply \@ev, ['save:已暂存', 'submit:已提交', 'approve:审核通过', 'return:审核不通过',
                 'save:已暂存', 'submit:已提交', 'approve:审核通过'],
    "the hospital sees its filing's whole history";
my ($ret) = grep { $_->{action} eq 'return' } @{$d->{events}};
is $ret->{reason}, 'S0002 请复核', '... with the reason';
is $ret->{actor_org}, '沈阳市医疗保障局', '... and who';
is vbp_sql("SELECT count(*) FROM audit_log WHERE target_type = 'review_item' AND target_id = '$item'"
           . " AND action LIKE 'review_%'"), 7, 'the audit log has every transition';
is vbp_sql("SELECT count(*) FROM filings f, LATERAL (SELECT coalesce(sum(last_year), 0) a,"
           . " coalesce(sum(demand), 0) b, count(*) c FROM filing_lines l WHERE l.item_id = f.item_id) s"
           . " WHERE f.last_year_total <> s.a OR f.demand_total <> s.b OR f.lines <> s.c"), 0, 'every filing total equals the sum of its lines';

# --- windows ---------------------------------------------------------------------

vbp_sql("UPDATE projects SET file_opens = now() - interval '3 days', file_closes = now() - interval '1 day' WHERE id = $pid");
my ($item2) = vbp_sql("SELECT i.id FROM review_items i JOIN orgs o ON o.id = i.org_id"
                      . " WHERE i.project_id = $pid AND o.code = 'H21010200022'");
vbp_sql("UPDATE review_items SET state = 'draft' WHERE id = $item2");
vbp_sql("UPDATE review_items SET state = 'pending' WHERE project_id = $pid AND level <> 'hospital'");
$before = snapshot();
($st, $d) = post('H21010200022', '/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{S0006}, demand => 1, in_use => 1 } ] });
is $st, 409, 'a save after the filing window closed: 409';
like $d->{error}{message}, qr/^医疗机构填报时间为 .* 至 .*，已于 .* 截止，不能暂存$/, '... saying which window and when it closed';
is snapshot(), $before, '... nothing written';

($st, $d) = get('H21010200022', '/api/filing', project => $pid);
ok !$d->{can}{save}, '... the filing page offers no 暂存';
like $d->{blocked}{save}, qr/^医疗机构填报时间为 .* 至 .*，已于 .* 截止，不能暂存$/, '... and says why';

# --- a return reopens what it returns --------------------------------------------
# seed 000 3.4.5: the province returns the city during its own window, the city
# returns one hospital, the hospital mends and submits, the city submits again --
# all after the hospitals' and the cities' windows have closed

vbp_sql("UPDATE projects SET file_opens = now() - interval '5 days', file_closes = now() - interval '3 days',"
        . " city_opens = now() - interval '3 days', city_closes = now() - interval '1 day',"
        . " province_opens = now() - interval '1 day', province_closes = now() + interval '2 days'"
        . " WHERE id = $pid");
vbp_sql("UPDATE review_items SET state = 'approved' WHERE project_id = $pid AND level = 'hospital' AND state <> 'exempt'");
vbp_sql("UPDATE review_items SET state = 'submitted' WHERE project_id = $pid AND level = 'city'");
vbp_sql("UPDATE review_items SET state = 'pending' WHERE project_id = $pid AND level = 'province'");
my ($city) = vbp_sql("SELECT parent_id FROM review_items WHERE id = $item");
($st, $d) = post('sy_admin', '/api/review/act', { action => 'return', ids => [$item], reason => '晚了' });
is $st, 409, 'past its window, a city returns none of its hospitals by itself';
($st, $d) = post('ln_admin', '/api/review/act', { action => 'return', ids => [$city], reason => '沈阳请复核 S0001' });
is $st, 200, 'the province returns the city in its own window';
is vbp_sql("SELECT open_until = (SELECT province_closes FROM projects WHERE id = $pid) FROM review_items WHERE id = $city"),
   't', '... which reopens the city until the province closes';
($st, $d) = post('sy_admin', '/api/review/act', { action => 'return', ids => [$item], reason => 'S0001 请复核' });
is $st, 200, 'the returned city returns one hospital, its own window past';
($st, $d) = get('H21010200011', '/api/filing', project => $pid);
ok $d->{can}{save} && $d->{can}{submit}, '... which may 暂存 and 提交 again, its window past';
($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{S0001}, last_year => 100, demand => 105, in_use => 1 } ] });
is $st, 200, '... and saves';
($st, $d) = post('H21010200022', '/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{S0006}, demand => 2, in_use => 1 } ] });
is $st, 409, '... while a hospital not returned stays closed';
($st) = upload('H21010200011', $pdf, project => $pid, kind => 'summary');
is $st, 201, '... uploads its summary sheet again';
($st, $d) = post('H21010200011', '/api/filing/submit', { project => $pid, contact => '张三', phone => '024-12345678' });
is $st, 200, '... and submits' or diag explain $d;
is vbp_sql("SELECT open_until IS NULL FROM review_items WHERE id = $item"), 't', '... which ends its reopening';
($st, $d) = post('H21010200011', '/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{S0001}, last_year => 100, demand => 106, in_use => 1 } ] });
is $st, 409, '... nothing more to save';
($st, $d) = post('sy_admin', '/api/review/act', { action => 'approve', ids => [$item] });
is $st, 200, 'the city approves it';
($st, $d) = post('sy_admin', '/api/review/submit', { project => $pid });
is $st, 200, '... and submits to the province again';
($st, $d) = post('sy_admin', '/api/review/withdraw', { project => $pid });
is $st, 409, '... no more after that: its reopening ended with the submission';
($st, $d) = post('ln_admin', '/api/review/submit', { project => $pid });
is $st, 422, 'the province\'s stamped summary, uploaded before the hospital mended, no longer does';
is $d->{error}{fields}{province_summary}, '汇总数据上传后，下级数据已有修改，请重新上传盖章的汇总数据', '... said at the file';
vbp_sql("UPDATE projects SET city_opens = now() - interval '1 day', city_closes = now() + interval '9 days' WHERE id = $pid");
vbp_sql("UPDATE review_items SET state = 'pending' WHERE project_id = $pid AND level = 'city'");

# --- two reviewers at once -------------------------------------------------------

vbp_sql("UPDATE projects SET file_opens = now() - interval '1 day', file_closes = now() + interval '9 days' WHERE id = $pid");
vbp_sql("UPDATE review_items SET state = 'submitted' WHERE id = $item2");
my $events = vbp_sql("SELECT count(*) FROM review_events WHERE item_id = $item2");
my @pids;
pipe(my $r, my $w) or die;
for my $action (qw(approve approve)) {
    my $pid2 = fork // die;
    if (!$pid2) {
        close $r;
        my ($s) = post('sy_admin', '/api/review/act', { action => $action, ids => [$item2], reason => '并发' });
        print $w "$s\n";
        close $w;
        POSIX::_exit(0);
    }
    push @pids, $pid2;
}
close $w;
waitpid $_, 0 for @pids;
my @codes = sort map { chomp; $_ } <$r>;
is_deeply \@codes, [200, 409], 'two reviewers approve at once: one wins, the other gets 409';
is vbp_sql("SELECT count(*) FROM review_events WHERE item_id = $item2") - $events, 1, '... one event';

# the save's gate (migration 020) follows every project's windows,
# threshold and product line, as the triggers keep it
is vbp_sql("SELECT count(*) FROM projects p JOIN product_lines l ON l.code = p.product_line"
           . " LEFT JOIN filing_save_gates g ON g.project_id = p.id"
           . " WHERE g.project_id IS NULL OR g.opens <> p.file_opens OR g.closes <> p.file_closes"
           . " OR g.threshold_pct <> p.threshold_pct OR g.rules <> l.rules OR NOT g.present"), 0,
   "every project's save gate is its project's";

done_testing();
