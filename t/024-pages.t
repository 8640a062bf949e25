# The page conventions of issue 9, on the server side (the browser walk is
# t/903-browser-pages.t):
#   - a form shown again after a POST keeps what was sent or stored: the
#     grant page after 保存授权 (saved twice: the grants stay), the new
#     sub-user form after a refused POST
#   - one layout: the menu on every page with the current entry, a title
#     and a heading each, the org and the user named once; nginx's own
#     errors and the platform's are the platform's page in that layout; an
#     ended session says so on the sign-in page and returns to the page
#   - lists: page numbers, one of each page size, a page past the end or
#     not a number, 序号, an empty list in one line, batch actions that
#     return to the list as it was with what they did (or why not)
#   - filters by region; the audit log in words, its dates checked, its CSV
#   - imports: the file's encoding and kind said first, columns by name
#   - accounts an import made show 待设置密码; sign-in says 账号已停用 and
#     when a lock ends
# Plain Test::More against an nginx of its own.

use strict;
use utf8;
use warnings;
use lib 't/lib';
use VBP::Test;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use Encode ();

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $base = vbp_nginx_start();
END { vbp_nginx_stop() }

# no redirects followed: each answer is looked at as it comes
my $http = HTTP::Tiny->new(timeout => 20, max_redirect => 0);
my $pw = 'Pages@Test2026';

vbp_sql("DELETE FROM user_permissions WHERE user_id IN (SELECT id FROM users WHERE username LIKE 't24%')");
vbp_sql("DELETE FROM audit_log WHERE actor_user_id IN (SELECT id FROM users WHERE username LIKE 't24%')");
vbp_sql("DELETE FROM users WHERE username LIKE 't24%'");
vbp_sql("DELETE FROM orgs WHERE code LIKE 'T24%'");
vbp_sql("UPDATE users SET status = 'active'");
vbp_sql("DELETE FROM login_locks");

my %as = vbp_sign_in($pw, qw(lcb_admin sy_admin H21010200011));

# a sub-user of the hospital to grant to
vbp_sql("INSERT INTO users (username, display_name, org_id, parent_user_id, password_hash,"
        . " must_change_password) SELECT 't24_sub', '子用户甲', org_id, id, '!', false"
        . " FROM users WHERE username = 'H21010200011'");
my ($sub) = vbp_sql("SELECT id FROM users WHERE username = 't24_sub'");

sub page { my ($who, $path) = @_; return vbp_page($base, $as{$who}, $path) }
sub form { my ($who, $path, @pairs) = @_; return vbp_form($base, $as{$who}, $path, @pairs) }

sub checked { my ($html) = @_; return [sort $html =~ /name="permissions" value="([a-z._]+)" checked/g] }

# --- the form after a POST --------------------------------------------------

my ($st, $html) = form('H21010200011', '/subusers/grant', id => $sub,
                       permissions => 'org.view', permissions => 'account.subusers');
is($st, 200, 'grant: saved');
like($html, qr/id="message" role="status">权限已保存/, '... says so');
is_deeply(checked($html), ['account.subusers', 'org.view'],
          '... and shows the tree again with what was saved ticked');
like($html, qr/<h1>子用户授权：子用户甲（t24_sub）<\/h1>/, '... naming the sub-user');

# the page as shown, sent again unchanged (the data loss of issue 9)
my @again = map { (permissions => $_) } @{checked($html)};
($st, $html) = form('H21010200011', '/subusers/grant', id => $sub, @again);
is_deeply([sort { $a cmp $b } vbp_sql("SELECT permission FROM user_permissions WHERE user_id = $sub")],
          ['account.subusers', 'org.view'], '保存授权 twice keeps every grant');
is_deeply(checked($html), ['account.subusers', 'org.view'], '... and the page still shows them');

($st, $html) = form('H21010200011', '/subusers/grant', id => $sub, permissions => 'org.view',
                    permissions => 'no.such');
is($st, 422, 'a grant refused ...');
is_deeply(checked($html), ['org.view'], '... shows the boxes as they were sent')
    or diag $html;
like($html, qr/id="permissions-error">权限不存在或不能授予子用户/, '... with the reason on the tree');

($st, $html) = form('H21010200011', '/subusers/new', username => 't24_new', display_name => '新子用户',
                    phone => '123', permissions => 'org.view');
is($st, 422, 'new sub-user refused (phone)');
is_deeply(checked($html), ['org.view'], '... the ticked boxes stay ticked');
like($html, qr/name="username" id="username" value="t24_new"/, '... the username stays');
like($html, qr/aria-describedby="phone-hint phone-error" aria-invalid="true">.*id="phone-error">手机号应为 1 开头的 11 位数字/s,
     '... the phone says its rule, tied to its field');
is(scalar vbp_sql("SELECT count(*) FROM users WHERE username = 't24_new'"), 0, '... nothing created');

my ($h11) = vbp_sql("SELECT id FROM users WHERE username = 'H21010200011'");
($st, $html) = form('sy_admin', '/users/edit', id => $h11, display_name => "坏\x{202e}名");
is($st, 422, 'edit refused');
like($html, qr/id="username">H21010200011<\/b>/, '... the username stays shown');
like($html, qr/name="display_name" id="display_name" value="坏\x{202e}名"/, '... and what was typed');

# --- one layout -----------------------------------------------------------

my %pages = (
    lcb_admin => ['/', '/users', '/users/new', "/users/edit?id=$h11", '/subusers', '/subusers/new',
                  '/orgs', '/orgs/import', '/regions', '/audit', '/password'],
    sy_admin => ['/', '/users', '/orgs', '/regions', '/audit', '/password'],
    H21010200011 => ['/', '/subusers', "/subusers/grant?id=$sub", "/subusers/edit?id=$sub", '/password'],
);
for my $who (sort keys %pages) {
    for my $path (@{$pages{$who}}) {
        my ($s, $h) = page($who, $path);
        is($s, 200, "$who $path: 200");
        my ($title) = $h =~ m{<title>([^<]*)</title>};
        my ($h1) = $h =~ m{<h1[^>]*>([^<]*)};
        ok($title =~ /^\S+ - 集中带量采购信息平台$/ && length $h1, "... its own title ($title) and heading ($h1)");
        like($h, qr/<nav class="menu" id="menu" aria-label="主菜单">/, '... the menu');
        my @current = $h =~ /class="current" aria-current="page">([^<]+)</g;
        is(scalar @current, 1, "... one entry marked current (@current)");
        my $org = () = $h =~ /id="header-org"/g;
        is($org, 1, '... the org named once in the header');
        unlike($h, qr/返回首页/, '... no 返回首页 link');
    }
}

($st, $html) = page('sy_admin', '/users/edit?id=1');
like($html, qr/class="current" aria-current="page">用户管理</, 'a page under an entry marks that entry');
($st, $html) = page('H21010200011', '/');
unlike($html, qr/href="\/users"|href="\/orgs"|href="\/audit"/, 'a hospital is not shown what it cannot open');
like($html, qr/id="header-user">主账号（H21010200011）</, 'the header: the org once, the user as 主账号');

# --- errors are the platform's page -----------------------------------------

($st, $html) = page('sy_admin', '/no-such-page');
is($st, 404, 'an unknown page: 404');
like($html, qr/<h1>页面或接口不存在<\/h1>.*错误代码 404/s, '... in Chinese');
like($html, qr/<nav class="menu".*id="header-org">|id="header-org">.*<nav class="menu"/s, '... in the layout, with the menu');
($st, $html) = page('sy_admin', '/logout');
is($st, 405, 'GET /logout: 405');
like($html, qr/<h1>不支持该请求方法<\/h1>/, '... the platform page');
my $r = $http->get("$base/api/nope");
like($r->{content}, qr/^\{"error":\{"code":"not_found"/, 'under /api/ it stays JSON');

$r = $http->get("$base/users?page=2&q=%E5%A4%A7", { headers => { Cookie => 'vbp_sid=' . ('A' x 43) } });
is($r->{status}, 302, 'an ended session ...');
is($r->{headers}{location} =~ s{^https?://[^/]+}{}r, '/login?expired=1&next=/users%3Fpage=2%26q=%25E5%25A4%25A7',
   '... goes to the sign-in page, which will say so and return to the page');
$r = $http->get("$base/login?expired=1&next=/users%3Fpage=2");
like(Encode::decode_utf8($r->{content}), qr/登录已超时，请重新登录.*name="next" value="\/users\?page=2"/s,
     '... the sign-in page says the session ended and keeps where to go');
$r = $http->get("$base/users");
is($r->{headers}{location} =~ s{^https?://[^/]+}{}r, '/login?next=/users', 'never signed in: no "ended" notice');
$r = $http->get("$base/login?next=//evil.example/x");
like($r->{content}, qr/name="next" value=""/, 'a next that leaves the site is dropped');

# sign in with next: back where the user was
vbp_setup("user dl_admin password=$pw must_change=0 status=active");
my $cap = vbp_setup('captcha');
$r = $http->request('POST', "$base/login", {
    headers => { Cookie => "vbp_cap=$cap->{'@CAPID@'}", 'Content-Type' => 'application/x-www-form-urlencoded' },
    content => $http->www_form_urlencode([username => 'dl_admin', password => $pw,
                                          captcha => $cap->{'@CAP@'}, next => '/users?page=2']) });
is($r->{status}, 303, 'signed in again ...');
is($r->{headers}{location} =~ s{^https?://[^/]+}{}r, '/users?page=2', '... back on the page asked for');
$cap = vbp_setup('captcha');
$r = $http->request('POST', "$base/login", {
    headers => { Cookie => "vbp_cap=$cap->{'@CAPID@'}", 'Content-Type' => 'application/x-www-form-urlencoded' },
    content => $http->www_form_urlencode([username => 'dl_admin', password => $pw,
                                          captcha => $cap->{'@CAP@'}, next => '//evil.example/']) });
is($r->{headers}{location} =~ s{^https?://[^/]+}{}r, '/', '... never to another site');

$r = $http->get("$base/favicon.ico");
is($r->{status}, 200, 'a favicon');
like($r->{headers}{'content-type'}, qr{^image/svg\+xml}, '... an SVG');

# --- lists --------------------------------------------------------------------

($st, $html) = page('lcb_admin', '/users?per_page=10&page=abc');
like($html, qr/aria-current="page" aria-label="第 1 页"/, 'page=abc: the first page');
my ($pages) = $html =~ /共 (\d+) 页/;
cmp_ok($pages, '>', 2, "the alliance's users fill $pages pages of 10");
($st, $html) = page('lcb_admin', '/users?per_page=10&page=99');
like($html, qr/aria-current="page" aria-label="第 $pages 页"/, 'page=99: the last page');
unlike($html, qr/第 99/, '... never "第 99 页"');
my @seq = $html =~ /<td class="num">(\d+)<\/td>/g;
is($seq[0], ($pages - 1) * 10 + 1, '... its 序号 continue from the pages before');
($st, $html) = page('lcb_admin', '/users?per_page=10&jump=2');
like($html, qr/aria-current="page" aria-label="第 2 页"/, '跳转至 2: page 2');
my @sizes = $html =~ /<option value="(\d+)"(?: selected)?>\d+条\/页<\/option>/g;
is("@sizes", '10 20 50 100', 'each page size listed once');
like($html, qr/<option value="10" selected>10条\/页/, '... the one in use selected');
like($html, qr/总共 <b id="total">\d+<\/b> 条/, 'the total');
($st, $html) = page('lcb_admin', '/users?q=t24-nobody');
like($html, qr/<td colspan="12" class="empty">没有符合条件的用户<\/td>/, 'an empty list says so in one line');
unlike($html, qr/共 条|第  *\/ *页/, '... and no empty figures');

# batch actions go back to the list as it was, saying what they did
my @two = vbp_sql("SELECT id FROM users WHERE username IN ('H21010200022', 'H21010300033') ORDER BY id");
($st, $html, my $hd) = form('sy_admin', '/users/status', ids => $two[0], ids => $two[1], status => 'disabled',
                            next => '/users?q=H2101&page=1');
is($st, 303, 'batch 停用: done ...');
is($hd->{location} =~ s{^https?://[^/]+}{}r, '/users?q=H2101&page=1&done=1', '... back to the list as it was');
($st, $html) = page('sy_admin', '/users?q=H2101&page=1&done=1');
like($html, qr/id="message" role="status">已停用 2 个账户</, '... which says what changed');
($st, $html) = page('sy_admin', '/users?q=H2101&page=1&done=1');
unlike($html, qr/已停用 2 个账户/, '... once');
($st, $html, $hd) = form('sy_admin', '/users/status', status => 'active', next => '/users?page=1');
is($hd->{location} =~ s{^https?://[^/]+}{}r, '/users?page=1&done=1', 'a batch with nothing ticked goes back too ...');
($st, $html) = page('sy_admin', '/users?page=1&done=1');
like($html, qr/id="error" role="alert">请先勾选要操作的账户</, '... refused on the list itself');
($st, $html, $hd) = form('sy_admin', "/users/status?status=active", id => $two[0], ids => $two[1],
                         next => '/audit');
is($hd->{location} =~ s{^https?://[^/]+}{}r, '/users?done=1', "a next outside the action's list is not followed");
is_deeply([vbp_sql("SELECT status FROM users WHERE id IN ($two[0], $two[1]) ORDER BY id")], ['active', 'disabled'],
          "a row's own button acts on its row only, whatever is ticked");
vbp_sql("UPDATE users SET status = 'active' WHERE id IN ($two[0], $two[1])");

# filters: by region, by code or name
($st, $html) = page('lcb_admin', '/users?region=210200&per_page=100');
my @regions = $html =~ m{<td>(\p{Han}+市|\p{Han}+本级)</td><td>(?:医疗机构|市级医保局)</td>}g;
ok(@regions && !grep({ $_ ne '大连市' } @regions), 'users of 大连: one click, only 大连 (' . scalar(@regions) . ')');
like($html, qr/<option value="210200" selected>　大连市<\/option>/, '... the filter shows its choice');
($st, $html) = page('lcb_admin', '/orgs?region=' . Encode::encode_utf8('辽宁省') . '&per_page=100');
my @orgs = $html =~ /<td>\p{Han}+（(\d{6})）<\/td>/g;
ok(@orgs && !grep({ !/^21/ } @orgs), 'orgs by region name: the province and all below it (' . scalar(@orgs) . ')');

# --- the audit log, in words ---------------------------------------------------

($st, $html) = page('sy_admin', '/audit?action=user_disabled');
like($html, qr/<td>停用账户<\/td>\s*<td>H21010200022<\/td><td>启用 → 停用<\/td>/, 'audit: the object by name, the change in words');
unlike($html, qr/<td>user \d+|disabled →|active →/, '... never "user 52" or English states');
($st, $html) = page('sy_admin', '/audit?from=2026-05-02&to=2026-05-01');
is($st, 422, 'from later than to ...');
like($html, qr/aria-invalid="true" aria-describedby="to-error">\s*<span class="field-error" id="to-error">结束日期不能早于开始日期/,
     '... is an error on the field');
$r = $http->get("$base/audit/export?action=user_disabled", { headers => { Cookie => "vbp_sid=$as{sy_admin}{sid}" } });
is($r->{status}, 200, 'the CSV export');
like($r->{headers}{'content-type'}, qr{^text/csv; charset=utf-8}, '... CSV');
like($r->{headers}{'content-disposition'}, qr/attachment; filename="audit.csv"/, '... a download');
my $csv = Encode::decode_utf8($r->{content});
like($csv, qr/^\x{feff}时间,操作人,单位,IP,操作,对象,变化,原因\r\n/, '... with a BOM and a Chinese header');
like($csv, qr/"停用账户","H21010200022","启用 → 停用"/, '... the filtered rows in words');
unlike($csv, qr/"登录"/, '... only the filtered ones');
$r = $http->get("$base/audit/export?from=2026-02-30", { headers => { Cookie => "vbp_sid=$as{sy_admin}{sid}" } });
is($r->{status}, 422, 'an export of an impossible date: 422 ...');
like(Encode::decode_utf8($r->{content}), qr/<h1>没有这一天，请检查日期<\/h1>/, '... on the platform page, with the reason');

# --- imports ----------------------------------------------------------------------

sub import_file {
    my ($type, $content) = @_;
    my ($s, $d) = vbp_api($base, $as{sy_admin}, 'POST', '/api/orgs/import?kind=hospital', $content, $type);
    return ($s, $d);
}
my ($s, $d) = import_file('text/csv', Encode::encode('gbk', "编码,名称,区划编码\nT24H1,测试医院,210100\n"));
is($s, 422, 'a GBK file with the Chinese header ...');
like($d->{error}{message}, qr/^文件不是 UTF-8 编码（像是 Excel 的“CSV（逗号分隔）”，即 GBK 编码）/, '... says its encoding first');
($s, $d) = import_file('text/csv', '');
like($d->{error}{fields}{file}, qr/文件是空的|空的（0 字节）/, 'an empty file says it is empty');
($s, $d) = import_file('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', "not a zip at all\n");
like($d->{error}{fields}{file}, qr/^文件不是有效的 XLSX 工作簿/, 'a broken .xlsx says so, not 表头不正确');
($s, $d) = import_file('text/csv', "编码,名称,区划编码\nT24H1,测试医院,999999\n");
is($d->{error}{rows}[0]{column}, '区划编码', 'errors name the column as the header does');

$r = $http->get("$base/static/orgs-template.csv");
is($r->{content}, "\xEF\xBB\xBF" . Encode::encode_utf8("编码,名称,区划编码,级别\r\n"), 'a CSV template to download');
$r = $http->get("$base/static/orgs-template.xlsx");
is(substr($r->{content}, 0, 4), "PK\x03\x04", '... and an XLSX one');
($s, $d) = import_file('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', $r->{content});
like($d->{error}{message}, qr/只有表头/, '... which the import reads (a header, no rows)');
($st, $html) = page('sy_admin', '/orgs/import');
unlike($html, qr/value="manufacturer"/, 'a city is not offered the 生产企业 import');
($st, $html) = page('lcb_admin', '/orgs/import');
like($html, qr/value="manufacturer"/, '... the alliance is');

# --- accounts an import made, sign-in ------------------------------------------------

($s, $d) = import_file('text/csv', "编码,名称,区划编码\nT24H1,页面测试医院,210100\n");
is($s, 200, 'an import makes a main account ...');
($st, $html) = page('sy_admin', '/users?q=T24H1');
like($html, qr/<span class="off pending">待设置密码<\/span>/, '... shown as 待设置密码, not 启用');
like($html, qr/formaction="\/users\/reset"/, '... with 重置密码 there');

($st, $html) = page('sy_admin', '/regions');
my $tables = () = $html =~ /id="regions"/g;
is($tables, 1, 'regions: the tree once');
unlike($html, qr/\b(?:nation|province|city)\b<|（省本级）/, '... levels in Chinese, 省本级 said once');
unlike($html, qr/新增区划|action="\/regions\/rename"/, "... a city is not offered 新增区划 or 改名");
($st, $html) = page('lcb_admin', '/regions');
my ($ln) = $html =~ /210000 · 省级 · 医疗机构 (\d+) 家/;
my ($total) = vbp_sql("SELECT count(*) FROM orgs o JOIN regions r ON r.id = o.region_id"
                      . " WHERE o.kind = 'hospital' AND r.code LIKE '21%'");
is($ln, $total, "a province counts the hospitals of its cities ($total)");
my @codes = $html =~ /<li data-code="(21\d{2}00)">/g;
is("@codes", join(' ', sort @codes), '... cities sorted by code');

done_testing();
