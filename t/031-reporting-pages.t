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

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $base = vbp_nginx_start();
END { vbp_nginx_stop() }

my $pw = 'Report@Pages2026';

my $name = 't31 报量页面';
my $pid = vbp_open_project($name, 'P', 25, 5);

my %as = vbp_sign_in($pw, qw(H21010200011 H21020200012 sy_admin dl_admin ln_admin lcb_admin));

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
like($html, qr/id="demand-total"[^>]*>100</, '... with the running total');

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
like($html, qr/id="commitment-error">请上传签字盖章的承诺书/, '... and, in the same answer, at the letter');

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

# --- 需求量信息确认 -------------------------------------------------------------

($st, $html) = page('sy_admin', "/review?project=$pid");
like($html, qr{<a href="/review/confirm\?project=$pid" id="go-confirm"}, 'the city\'s list leads to 需求量信息确认');
($st, $html) = page('sy_admin', "/review/confirm?project=$pid");
is($st, 200, '需求量信息确认');
my $blocking = vbp_sql("SELECT count(*) FROM review_items i JOIN regions g ON g.id = i.region_id WHERE i.project_id = $pid"
                       . " AND i.level = 'hospital' AND g.code = '210100' AND i.state NOT IN ('approved', 'exempt')");
like($html, qr{id="blocking"><a href="/review\?project=$pid&amp;state=not_approved">$blocking 家}, "... $blocking hospitals of 沈阳 still block, linked");
like($html, qr{id="own-state">待提交<}, '... the city has not submitted');
like($html, qr{尚无审核通过的医疗机构}, '... nothing approved to list yet');
unlike($html, qr{id="submit-up"}, '... no 提交 button while hospitals block');
like($html, qr{id="submit-why">本市当前状态为「待提交」，尚有 $blocking 家医疗机构未审核通过}, '... it says why instead');
($st, $html) = page('sy_admin', "/review?project=$pid&state=not_approved&per_page=100");
like($html, qr/<tr data-code="H21010200011"/, '尚未审核通过 lists the hospital in draft');
like($html, qr/<option value="not_approved" selected>/, '... the filter as chosen');
($st, $html) = page('dl_admin', "/review/confirm?project=$pid");
my $dl = vbp_sql("SELECT count(*) FROM review_items i JOIN regions g ON g.id = i.region_id WHERE i.project_id = $pid"
                 . " AND i.level = 'hospital' AND g.code = '210200' AND i.state <> 'exempt'");
like($html, qr{id="must-report">$dl<}, "大连's confirmation counts its own $dl hospitals");
($st) = page('ln_admin', "/review/confirm?project=$pid");
is($st, 403, 'a province has no city confirmation');

# --- the national CSV --------------------------------------------------------

my ($s3, undef, $csv, $hd) = vbp_api($base, $as{lcb_admin}, 'GET', "/api/review/export?project=$pid");
is($s3, 200, 'the alliance exports the summary');
like($hd->{'content-type'}, qr{^text/csv; charset=utf-8}, '... as CSV');
like($hd->{'content-disposition'}, qr/^attachment; filename="file.csv"; filename\*=UTF-8''%E6%8A%A5%E9%87%8F%E6%B1%87%E6%80%BB\.csv$/,
     '... an attachment named 报量汇总.csv');
my @csv = split /\r\n/, Encode::decode_utf8($csv);
is($csv[0], "\x{feff}省份,大项,小项,生产企业,注册证,上年度采购总数量,下年度采购总数量", '... UTF-8 with a BOM, the header of SPEC §3');
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

# a reviewer reads what was filed: the hospital's detail lists its filed
# lines unless the clerk unticks 只看已填报 (the search form says filter=1)
my $filed = vbp_sql("SELECT count(*) FROM filing_lines WHERE item_id = $item");
my $catalog = scalar keys %line;
($st, $html) = page('sy_admin', "/review/item?id=$item");
like($html, qr{id="only-filled" checked}, "the city's detail of a hospital: 只看已填报 ticked at first");
like($html, qr{<b id="total">$filed</b>}, "... its $filed filed lines, not the catalog's $catalog");
($st, $html) = page('sy_admin', "/review/item?id=$item&filter=1");
unlike($html, qr{id="only-filled" checked}, '... unticked by the search form');
like($html, qr{<b id="total">$catalog</b>}, '... the whole catalog');
($st, $html) = page('sy_admin', "/review/item?id=$item&filter=1&filled=1&page=1");
like($html, qr{<b id="total">$filed</b>}, '... ticked again: the filed lines');

# the words of 需求量信息确认 and 填报进度 on the city's detail too (应上报)
my $city_item = vbp_sql("SELECT i.id FROM review_items i JOIN regions g ON g.id = i.region_id"
                        . " WHERE i.project_id = $pid AND i.level = 'city' AND g.code = '210100'");
($st, $html) = page('ln_admin', "/review/item?id=$city_item");
like($html, qr{<dt>应上报医疗机构</dt><dd id="hospital-count">$must 家}, 'the province\'s detail of the city: 应上报医疗机构, as the other pages say');

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

# the city's hospital list (机构管理) links the uploaded summary sheet (the
# hospital's sheets of other projects, of other tests, taken away first)
vbp_sql("DELETE FROM item_files x USING review_items i, orgs o WHERE x.item_id = i.id AND i.org_id = o.id"
        . " AND o.code = 'H21010200011' AND x.kind = 'summary'");
($st, $html) = page('sy_admin', '/orgs?q=H21010200011');
like($html, qr{<tr data-code="H21010200011">.*?<span class="muted">暂无</span>}s, 'the city\'s org list: no summary sheet yet');
my $sheet = Encode::encode_utf8("%PDF-1.4\n% 需求量汇总表\n%%EOF\n");
($s2) = vbp_api($base, $as{H21010200011}, 'POST', "/api/files/upload?project=$pid&kind=summary&name=sheet.pdf",
                $sheet, 'application/octet-stream');
is($s2, 201, 'the hospital uploads its signed summary sheet');
($st, $html) = page('sy_admin', '/orgs?q=H21010200011');
like($html, qr{<tr data-code="H21010200011">.*?<a href="/api/files/download\?item=$item&amp;kind=summary&amp;certificate=&amp;inline=1">查看</a>}s,
     '... then the list links 查看 to it, shown in the browser');
($s3, undef, my $raw3, my $h3) = vbp_api($base, $as{sy_admin}, 'GET', "/api/files/download?item=$item&kind=summary&certificate=&inline=1");
is($s3, 200, '... which the city opens');
unlike($h3->{'content-disposition'} // '', qr/attachment/, '... inline, not as a download');
is($raw3, $sheet, '... byte for byte');

($st, $html) = page('H21010200011', '/');
like($html, qr{id="deadlines">.*?<a href="/filing\?project=$pid">\Q$name\E</a>：报量填报，截止 \d{4}-\d\d-\d\d \d\d:\d\d，剩余 <b>\d+天\d+小时</b>}s,
     'the hospital\'s home page reminds it of the filing and the time left');
($st, $html) = page('sy_admin', '/');
like($html, qr{<a href="/review\?project=$pid">\Q$name\E</a>：市级审核上报，截止}, '... the city\'s of its submission');
vbp_sql("UPDATE projects SET file_closes = now() - interval '1 minute', file_opens = now() - interval '2 days'"
        . " WHERE id = $pid");
($st, $html) = page('H21010200011', '/');
like($html, qr{<a href="/filing\?project=$pid">\Q$name\E</a>：报量填报已截止，本机构尚未提交；如需补报，请联系市级医保局（截止于 [-0-9: ]+）</li>},
     '... once the window has closed unsubmitted: said so while the city reviews, no time left');
my ($co, $cc) = split /\|/, vbp_sql("SELECT city_opens || '|' || city_closes FROM projects WHERE id = $pid");
vbp_sql("UPDATE projects SET city_closes = now() - interval '1 second', city_opens = now() - interval '1 day'"
        . " WHERE id = $pid");
($st, $html) = page('H21010200011', '/');
unlike($html, qr{/filing\?project=$pid"}, '... and not once the city\'s has closed too');
vbp_sql("UPDATE projects SET city_opens = '$co', city_closes = '$cc' WHERE id = $pid");

# --- 统一配置: the alliance creates and edits projects ------------------------

my $new = 't31 新项目';
vbp_sql("DELETE FROM projects WHERE name = '$new'");
($st, $html) = page('lcb_admin', '/projects?q=t31');
like($html, qr{<a href="/projects/new"[^>]*>新增报量项目</a>}, 'the alliance\'s list offers 新增报量项目');
like($html, qr{href="/projects/edit\?id=$pid"[^>]*>编辑</a>}, '... and 编辑 on each project');
($st, $html) = page('ln_admin', '/projects?q=t31');
unlike($html, qr{/projects/(new|edit)}, '... a province\'s does not');
($st) = page('ln_admin', '/projects/new');
is($st, 403, 'a province may not open the project form');
($st) = page('H21010200011', "/projects/edit?id=$pid");
is($st, 403, '... nor a hospital');

($st, $html) = page('lcb_admin', '/projects/new');
is($st, 200, 'the empty project form');
like($html, qr{<option value="ivd">体外诊断试剂</option>}, '... the product lines to choose from');
like($html, qr{<input type="checkbox" name="provinces" value="210000"> 辽宁省}, '... the provinces, none ticked');
is(() = $html =~ /type="datetime-local"/g, 8, '... eight times, two per stage');
like($html, qr{<th scope="row">市级审核</th>}, '... named by stage');

my @good = (name => $new, product_line => 'bracket', threshold_pct => '25',
            provinces => '210000', provinces => '340000',
            file_opens => '2027-03-01T08:00', file_closes => '2027-03-15T18:00',
            city_opens => '2027-03-01T08:00', city_closes => '2027-03-20T18:00',
            province_opens => '2027-03-01T08:00', province_closes => '2027-03-25T18:00',
            alliance_opens => '2027-03-01T08:00', alliance_closes => '2027-03-31T18:00');
my %bad = (@good, name => '', city_closes => '2027-02-01T18:00', threshold_pct => '-5');
($st, $html) = form('lcb_admin', '/projects/new', (map { ($_ => $bad{$_}) } grep { $_ ne 'provinces' } sort keys %bad),
                    provinces => '210000', provinces => '340000');
is($st, 422, 'a project with no name, a negative threshold and a window that closes before it opens: refused');
like($html, qr{id="name-error">请填写项目名称}, '... the name\'s error at the name');
like($html, qr{id="threshold_pct-error">需求量阈值应为}, '... the threshold\'s at the threshold');
like($html, qr{id="city_closes-error">截止时间应晚于开始时间}, '... the window\'s at its 截止时间');
like($html, qr{<option value="bracket" selected>}, '... the product line as it was chosen');
like($html, qr{value="210000" checked> 辽宁省.*value="340000" checked> 安徽省}s, '... both provinces still ticked');
like($html, qr{name="file_closes" id="file_closes"[^>]*value="2027-03-15T18:00"}, '... each time as it was sent');
is(vbp_sql("SELECT count(*) FROM projects WHERE name = '$new'"), 0, '... and nothing stored');

my ($st2, undef, $h2) = form('lcb_admin', '/projects/new', @good);
is($st2, 303, 'a good project: 303');
like($h2->{location}, qr{/projects(\?|$)}, '... back to the list');
my $npid = vbp_sql("SELECT id FROM projects WHERE name = '$new'");
ok($npid, '... stored');
is(vbp_sql("SELECT string_agg(r.code, ',' ORDER BY r.code) FROM project_provinces pp JOIN regions r"
           . " ON r.id = pp.region_id WHERE pp.project_id = $npid"), '210000,340000', '... with both provinces');
is(vbp_sql("SELECT to_char(city_closes AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') FROM projects WHERE id = $npid"),
   '2027-03-20 18:00', '... its windows in China time');

($st, $html) = page('lcb_admin', "/projects/edit?id=$npid");
is($st, 200, 'the form of a stored project');
like($html, qr{name="name" id="name" value="\Q$new\E"}, '... its name');
like($html, qr{<option value="bracket" selected>}, '... its product line');
like($html, qr{name="threshold_pct" id="threshold_pct" type="number"[^>]*value="25"}, '... its threshold');
like($html, qr{name="alliance_closes" id="alliance_closes"[^>]*value="2027-03-31T18:00"}, '... its windows as the input wants them');
like($html, qr{value="340000" checked> 安徽省}, '... its provinces ticked');

# the running project of this file: fixed threshold and line, windows only later
($st, $html) = page('lcb_admin', "/projects/edit?id=$pid");
like($html, qr{id="status">执行中</b>（已开始}, 'a running project\'s form says what is fixed');
like($html, qr{<input type="hidden" name="product_line" value="ivd"><b id="product_line">体外诊断试剂</b>}, '... the line as text');
like($html, qr{id="threshold_pct"[^>]*readonly}, '... the threshold read-only');
my %shown = $html =~ /name="(\w+_(?:opens|closes))" id="\w+"[^>]*value="([^"]*)"/g;
is(scalar(keys %shown), 8, '... every window shown');
my %running = (id => $pid, name => $name, product_line => 'ivd', threshold_pct => '30', provinces => '210000', %shown);
sub running { my %o = (%running, @_); return map { ($_ => $o{$_}) } sort keys %o }
my $closes = vbp_sql("SELECT file_closes FROM projects WHERE id = $pid");
($st2) = form('lcb_admin', '/projects/edit', running());
is($st2, 303, 'saved again as shown: 303');
is(vbp_sql("SELECT file_closes FROM projects WHERE id = $pid"), $closes,
   '... a window sent back as shown (its seconds cut) keeps its stored time');
($st, $html) = form('lcb_admin', '/projects/edit', running(threshold_pct => '40'));
is($st, 422, 'a running project\'s threshold changed: refused');
like($html, qr{id="threshold_pct-error">项目已执行中或已结束，需求量阈值不可修改}, '... at the threshold');
my ($later) = vbp_sql("SELECT to_char((file_closes + interval '2 days') AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI') FROM projects WHERE id = $pid");
($st2) = form('lcb_admin', '/projects/edit', running(file_closes => $later));
is($st2, 303, 'its filing window extended by two days: 303');
is(vbp_sql("SELECT to_char(file_closes AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI') FROM projects WHERE id = $pid"),
   $later, '... stored');
like(vbp_sql("SELECT detail::text FROM audit_log WHERE target_type = 'project' AND target_id = '$pid' ORDER BY id DESC LIMIT 1"),
     qr/file_closes/, '... and audited with what changed');
vbp_sql("DELETE FROM projects WHERE id = $npid");

done_testing();
