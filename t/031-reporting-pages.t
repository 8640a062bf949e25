# The reporting pages on the server side (the browser journey is
# t/904-browser-reporting.t):
#   - a form page's POST: refused, the page again with every value sent
#     and each error at its line and field, nothing written; done, 303 to
#     "next" with the message; its GET is never redirected
#   - the lines' pager: a page past the end shows the last page
#   - 提交 without files names the missing file at its input, keeps what
#     was typed, and leaves the filing as it was
#   - the city's list and detail pages show only its own hospitals; a
#     hospital of another city is 404 on the page and refused in a batch
#   - a city's summary is its own row, never another city's
# Plain Test::More against an nginx of its own.

use strict;
use utf8;
use warnings;
use lib 't/lib';
use VBP::Test;
use Test::More;
use Encode ();

binmode(Test::More->builder->$_, ':utf8') for qw(output failure_output todo_output);

my $base = vbp_nginx_start();
END { vbp_nginx_stop() }

my $pw = 'Report@Pages2026';

my $name = 't31 报量页面';
my $pid = vbp_open_project($name, 'P', 25, 5);

my %as;
for my $who (qw(H21010200011 H21020200012 sy_admin dl_admin ln_admin lcb_admin)) {
    vbp_setup("user $who password=$pw must_change=0 status=active");
    vbp_sql("DELETE FROM login_locks");
    my $t = vbp_setup("login $who $pw");
    $as{$who} = { sid => $t->{'@SID@'}, csrf => $t->{'@CSRF@'} };
}

sub page { my ($who, $path) = @_; return vbp_page($base, $as{$who}, $path) }
sub form { my ($who, $path, @pairs) = @_; return vbp_form($base, $as{$who}, $path, @pairs) }

my %line = map { split /\|/ } vbp_sql("SELECT serial || '|' || id FROM catalog_lines WHERE project_id = $pid");
my $item = vbp_sql("SELECT i.id FROM review_items i JOIN orgs o ON o.id = i.org_id"
                   . " WHERE i.project_id = $pid AND o.code = 'H21010200011'");
my $foreign = vbp_sql("SELECT i.id FROM review_items i JOIN orgs o ON o.id = i.org_id"
                      . " WHERE i.project_id = $pid AND o.code = 'H21020200012'");
sub stored_lines { return scalar vbp_sql("SELECT count(*) FROM filing_lines WHERE item_id = $item") }

# --- the project list and the filing page ----------------------------------

my ($st, $html) = page('H21010200011', '/projects?q=t31');
is($st, 200, 'the hospital\'s project list');
like($html, qr/data-project="$pid".*href="\/filing\?project=$pid"/s, '... links the project to its filing page');

($st, $html) = page('H21010200011', "/filing?project=$pid&per_page=10");
is($st, 200, 'GET /filing is the page (vbp_redirect is for POSTs only)');
like($html, qr/id="filing-state">未填报</, '... 未填报');
is(() = $html =~ /<tr data-serial="/g, 10, '... ten lines on a page of ten');
like($html, qr/总共 <b id="total">25<\/b> 条/, '... the pager counts the catalog');

($st, $html) = page('H21010200011', "/filing?project=$pid&per_page=10&page=99");
like($html, qr/data-serial="P025"/, 'a page past the end shows the last page');
unlike($html, qr/data-serial="P001"/, '... and only it');

($st, $html) = page('H21010200011', "/filing/submit?project=$pid");
is($st, 200, 'GET /filing/submit shows the filing page too');

# --- 暂存: refused keeps every value at its field; nothing written ----------

my @rows = map {
    my $s = sprintf 'P%03d', $_;
    (line => $line{$s}, last_year => 10, demand => ($_ == 3 ? '-5' : $_ == 4 ? '1.5' : 10),
     in_use => 1, change_note => ($_ == 2 ? '科室扩建' : ''))
} 1 .. 10;

($st, $html) = form('H21010200011', '/filing', project => $pid, page => 1, per_page => 10,
                    next => "/filing?project=$pid&page=1&per_page=10", @rows);
is($st, 422, '暂存 with a negative and a fractional demand is refused');
like($html, qr/<tr data-serial="P003".*?value="-5"[^>]*aria-invalid="true"[^>]*>.*?class="field-error"[^>]*>[^<]*负数/s,
     '... the negative one says so at its field');
like($html, qr/<tr data-serial="P004".*?value="1.5"[^>]*aria-invalid="true"[^>]*>.*?class="field-error"[^>]*>[^<]*整数/s,
     '... the fractional one says so at its field');
like($html, qr/<tr data-serial="P002".*?name="change_note" value="科室扩建"/s, '... the other rows keep what was typed');
like($html, qr/<tr data-serial="P005".*?<option value="1" selected>是/s, '... down to the selects');
unlike($html, qr/data-serial="P011"/, '... on the same page of ten');
is(stored_lines(), 0, '... and nothing is written');

$rows[ 2 * 10 + 5 ] = 10;     # P003's demand
$rows[ 3 * 10 + 5 ] = 10;     # P004's demand
($st, $html, my $h) = form('H21010200011', '/filing', project => $pid, page => 1, per_page => 10,
                           next => "/filing?project=$pid&page=1&per_page=10", @rows);
is($st, 303, '暂存 of a good page: 303');
like($h->{location}, qr{^\Q$base/filing?project=$pid&page=1&per_page=10&done=1\E$}, '... back to the page it came from');
is(stored_lines(), 10, '... ten lines stored');
(my $back = $h->{location}) =~ s/^\Q$base\E//;
($st, $html) = page('H21010200011', $back);
like($html, qr/id="message"[^>]*>已暂存/, '... and the page says 已暂存');
like($html, qr/id="demand-total">100</, '... with the running total');

# --- 提交 without files ------------------------------------------------------

($st, $html) = form('H21010200011', '/filing/submit', project => $pid, contact => '李四',
                    phone => '024-87654321', next => "/filing?project=$pid");
is($st, 422, '提交 without files is refused');
like($html, qr/id="commitment-error">请上传签字盖章的承诺书/, '... naming the letter at its input');
like($html, qr/id="summary-error">请上传签字盖章的需求量汇总表/, '... and the summary sheet at its input');
like($html, qr/id="contact" value="李四"/, '... keeping the contact typed');
is(scalar vbp_sql("SELECT state FROM review_items WHERE id = $item"), 'draft', '... the filing stays 已暂存');

($st, $html) = form('H21010200011', '/filing/submit', project => $pid, contact => '', phone => 'x',
                    next => "/filing?project=$pid");
is($st, 422, '提交 without contact and with a bad phone');
like($html, qr/id="contact-error">请填写联系人/, '... says so at the contact');
like($html, qr/id="phone-error">[^<]+/, '... and at the phone');

($st, $html) = form('H21020200012', '/filing', project => $pid + 100000, line => $line{P001}, demand => 1,
                    next => "/filing?project=$pid");
is($st, 404, 'a project that is not there: 404 on the page');

# --- the city's pages: its own hospitals only ------------------------------

($st, $html) = page('sy_admin', "/review?project=$pid");
is($st, 200, 'the city\'s review list');
like($html, qr/<tr data-code="H21010200011"/, '... lists its hospital');
unlike($html, qr/data-code="H2102/, '... and none of 大连');
like($html, qr/<tr data-code="H21010200011".*?<td class="state">已暂存<\/td>/s, '... in its state');

($st, $html) = page('sy_admin', "/review/item?id=$item");
is($st, 200, 'its hospital\'s detail');
like($html, qr/id="demand-total">100</, '... with the filing\'s total');
($st) = page('sy_admin', "/review/item?id=$foreign");
is($st, 404, 'a hospital of 大连: 404');

($st, $html, $h) = form('sy_admin', '/review/act', ids => $foreign, action => 'return', reason => '越权',
                        next => "/review?project=$pid");
ok($st == 303 || $st >= 400, 'a batch over 大连\'s hospital is refused');
is(scalar vbp_sql("SELECT state FROM review_items WHERE id = $foreign"), 'unfiled', '... and changes nothing');
is(scalar vbp_sql("SELECT count(*) FROM review_events WHERE item_id = $foreign"), 0, '... not even an event');

($st, $html, $h) = form('sy_admin', '/review/act', action => 'approve', next => "/review?project=$pid");
ok($st == 303 || $st == 422, 'a batch with nothing ticked is refused');

($st, $html) = page('sy_admin', "/review/summary?project=$pid");
like($html, qr/沈阳市/, 'a city\'s summary is its own row');
unlike($html, qr/大连市/, '... and no other city\'s');
($st) = page('sy_admin', "/review/summary?project=$pid&region=210200");
is($st, 404, '... nor with another city\'s code');
($st, $html) = page('ln_admin', "/review/summary?project=$pid");
is($st, 200, 'the province\'s summary');
like($html, qr/沈阳市.*大连市/s, '... lists its cities');

# --- the national CSV --------------------------------------------------------

my ($s3, undef, $csv, $hd) = vbp_api($base, $as{lcb_admin}, 'GET', "/api/review/export?project=$pid");
is($s3, 200, 'the alliance exports the summary');
like($hd->{'content-type'}, qr{^text/csv; charset=utf-8}, '... as CSV');
like($hd->{'content-disposition'}, qr/attachment; filename="demand-summary.csv"/, '... an attachment');
my @csv = split /\r\n/, Encode::decode_utf8($csv);
is($csv[0], "\x{feff}省份,大项,小项,生产企业,注册证,上年度采购总量,下年度需求总量", '... UTF-8 with a BOM, the header of SPEC §3');
my ($ly, $dm) = (0, 0);
for (@csv[1 .. $#csv]) { my @f = /"([^"]*)"/g; $ly += $f[5]; $dm += $f[6] }
is($dm, 100, '... its demand adds up to the filing\'s');
is($ly, 100, '... and last year\'s too');
like($csv[1], qr/^"辽宁省","生化","肝功能","甲公司","国械注准P0","50","50"$/, '... by province and certificate');
is(scalar(@csv) - 1, 2, '... one row per certificate filed (P001-P005, P006-P010)');
my ($s4, undef, $csv2) = vbp_api($base, $as{ln_admin}, 'GET', "/api/review/export?project=$pid");
is($s4, 200, 'a province exports its own');
($s4) = vbp_api($base, $as{ln_admin}, 'GET', "/api/review/export?project=$pid&region=340000");
is($s4, 404, '... never another province\'s');
($s4) = vbp_api($base, $as{H21010200011}, 'GET', "/api/review/export?project=$pid");
is($s4, 403, 'a hospital exports nothing');

# --- 填报进度 and the home page's reminders -----------------------------------

($st, $html) = page('sy_admin', "/review/progress?project=$pid");
is($st, 200, 'the city\'s filing progress');
my $must = vbp_sql("SELECT count(*) FROM review_items i JOIN regions g ON g.id = i.region_id WHERE i.project_id = $pid"
                   . " AND i.level = 'hospital' AND g.code = '210100' AND i.state <> 'exempt'");
like($html, qr/id="must-report">$must</, "... $must hospitals of 沈阳 must report");
like($html, qr/<tr data-region="210100">/, '... one row, the city itself');
unlike($html, qr/data-region="210200"/, '... never 大连');
like($html, qr/href="\/review\?project=$pid&amp;state=not_submitted"/, '... leads to the hospitals not yet submitted');

($st, $html) = page('sy_admin', "/review?project=$pid&state=not_submitted&per_page=100");
like($html, qr/<tr data-code="H21010200011".*?<td class="state">已暂存/s, '尚未提交 lists the draft');

my ($s2, $d) = vbp_api($base, $as{ln_admin}, 'GET', "/api/review/progress?project=$pid");
is($s2, 200, 'the province\'s progress by the API');
my %row = map { $_->{region_code} => $_ } @{$d->{regions}};
ok($row{210100} && $row{210200}, '... a row per city');
is($d->{total}{must_report}, (vbp_sql("SELECT count(*) FROM review_items WHERE project_id = $pid AND level = 'hospital'"
                                       . " AND state <> 'exempt'"))[0], '... the total counts every hospital that must report');
is($d->{total}{draft}, 1, '... one of them 已暂存');
($s2) = vbp_api($base, $as{sy_admin}, 'GET', "/api/review/progress?project=$pid&region=210000");
is($s2, 404, 'a city asking for its province\'s progress: 404');
($s2) = vbp_api($base, $as{H21010200011}, 'GET', "/api/review/progress?project=$pid");
is($s2, 403, 'a hospital has no progress page');

($st, $html) = page('H21010200011', '/');
like($html, qr{id="deadlines">.*?<a href="/filing\?project=$pid">\Q$name\E</a>：报量填报截止 \d{4}-\d\d-\d\d \d\d:\d\d，剩余 <b>\d+天\d+小时</b>}s,
     'the hospital\'s home page reminds it of the filing and the time left');
($st, $html) = page('sy_admin', '/');
like($html, qr{<a href="/review\?project=$pid">\Q$name\E</a>：市级审核上报截止}, '... the city\'s of its submission');
vbp_sql("UPDATE projects SET file_closes = now() - interval '1 minute', file_opens = now() - interval '2 days'"
        . " WHERE id = $pid");
($st, $html) = page('H21010200011', '/');
unlike($html, qr{/filing\?project=$pid"}, '... and not once the window has closed');

done_testing();
