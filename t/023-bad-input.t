# Bad input that once got through or gave a 500 (issue 8): every case is
# a clear 4xx with the message on its field, and nothing changes.
#   - control, NUL and invisible (bidi) characters in typed text and in
#     imported cells; the display-name rule to the last character
#   - region names and codes that mean nothing
#   - permissions of the wrong type
#   - impossible audit dates, on the API and on the page
#   - XLSX row numbers out of range, zero, out of order, cells of another
#     row, shared strings that are not there; the counts of an answer are
#     what was stored
#   - what lies outside the actor's scope looks like what does not exist;
#     the probe of the one global namespace (usernames) is limited
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
my $http = HTTP::Tiny->new(timeout => 20);
my $json = JSON::PP->new->utf8->canonical;
my $pw = 'Input@Test2026';

vbp_sql("DELETE FROM audit_log WHERE actor_user_id IN (SELECT id FROM users WHERE username LIKE 't23%')");
vbp_sql("DELETE FROM users WHERE username LIKE 't23%' OR org_id IN (SELECT id FROM orgs WHERE code LIKE 'T23%')");
vbp_sql("DELETE FROM review_items WHERE org_id IN (SELECT id FROM orgs WHERE code LIKE 'T23%')");
vbp_sql("DELETE FROM notices WHERE target_org_id IN (SELECT id FROM orgs WHERE code LIKE 'T23%')");
vbp_sql("DELETE FROM orgs WHERE code LIKE 'T23%'");
vbp_sql("DELETE FROM login_locks");

my %as = vbp_sign_in($pw, qw(lcb_admin ln_admin sy_admin H21010200011));

sub call { my $who = shift; return vbp_api($base, $as{$who}, @_) }

sub state_of {
    return join '|', vbp_sql("SELECT md5(string_agg(concat_ws(',', id, username, display_name,"
        . " status, password_hash), ';' ORDER BY id)) FROM users"),
        vbp_sql("SELECT md5(string_agg(user_id || permission, ';' ORDER BY user_id, permission))"
        . " FROM user_permissions"),
        vbp_sql("SELECT md5(string_agg(code || name, ';' ORDER BY code)) FROM regions"),
        vbp_sql("SELECT md5(string_agg(code || name || region_id, ';' ORDER BY code)) FROM orgs");
}

# the answer is a 422 with a message on the field, and nothing changed
sub refused {
    my ($what, $field, $like, @call) = @_;
    my $before = state_of();
    my ($st, $d, $raw) = call(@call);
    is($st, 422, "$what: 422") or diag($raw);
    my $msg = $d->{error}{fields}{$field};
    ok(defined $msg && $msg =~ $like, "... on the field $field: " . ($msg // $raw));
    is(state_of(), $before, '... and nothing changed');
}

my $hospital = vbp_sql("SELECT id FROM users WHERE username = 'H21010200022'");

# --- typed text -----------------------------------------------------------

refused('a control character at the end of a name', 'display_name', qr/控制字符/,
        'sy_admin', 'POST', '/api/users/update', { id => $hospital, display_name => "ab\x{1}" });
refused('a NUL inside a name', 'display_name', qr/控制字符/,
        'sy_admin', 'POST', '/api/users/update', { id => $hospital, display_name => "a\x{0}b" });
refused('a right-to-left override in a name', 'display_name', qr/不可见/,
        'sy_admin', 'POST', '/api/users/update', { id => $hospital, display_name => "医院\x{202e}甲" });
refused('a zero-width space in a search', 'q', qr/不可见/,
        'sy_admin', 'GET', "/api/users?q=%E2%80%8B");

for my $name ("沈阳!", "😀", "ab\x{1}", "子账户\x{202e}") {
    refused("a sub-account named " . $json->encode([$name]), 'display_name', qr/汉字、字母和数字|控制字符|不可见/,
            'H21010200011', 'POST', '/api/subusers/create',
            { username => 't23_sub', display_name => $name });
}
{
    my ($st, $d) = call('H21010200011', 'POST', '/api/subusers/create',
                        { username => 't23_sub', display_name => '沈阳甲1' });
    is($st, 201, 'Chinese characters, letters and digits make a name');
}

# --- regions ---------------------------------------------------------------

refused('a region name with a bidi override', 'name', qr/不可见|只能包含/,
        'ln_admin', 'POST', '/api/regions/create', { code => '211000', name => "辽\x{202e}阳市" });
refused('a region renamed with a control character', 'name', qr/控制字符|只能包含/,
        'ln_admin', 'POST', '/api/regions/rename', { code => '210100', name => "沈阳\x{7}市" });
refused('a region name with punctuation', 'name', qr/只能包含/,
        'ln_admin', 'POST', '/api/regions/rename', { code => '210100', name => '沈阳市!' });
refused('the alliance adds province 000000', 'code', qr/省级行政区/,
        'lcb_admin', 'POST', '/api/regions/create', { code => '000000', name => '无名省' });
refused('the alliance adds province 990000', 'code', qr/省级行政区/,
        'lcb_admin', 'POST', '/api/regions/create', { code => '990000', name => '无名省' });
refused('a province adds 219901 inside the 省本级 range', 'code', qr/地级编码/,
        'ln_admin', 'POST', '/api/regions/create', { code => '219901', name => '省本级县' });
refused('a province adds 219900 (its 省本级)', 'code', qr/地级编码/,
        'ln_admin', 'POST', '/api/regions/create', { code => '219900', name => '另一个本级' });
refused('a province adds a county 210102', 'code', qr/地级编码/,
        'ln_admin', 'POST', '/api/regions/create', { code => '210102', name => '和平区' });

# --- permissions of the wrong type --------------------------------------------

my $sub = vbp_sql("SELECT id FROM users WHERE username = 't23_sub'");
vbp_sql("INSERT INTO user_permissions VALUES ($sub, 'org.view') ON CONFLICT DO NOTHING");
for my $bad (5, {}, JSON::PP::true, [1], [[]], ['no.such.permission'], ['account']) {
    refused('permissions given as ' . $json->encode([$bad]), 'permissions', qr/./,
            'H21010200011', 'POST', '/api/subusers/grant', { id => $sub + 0, permissions => $bad });
}
is(vbp_sql("SELECT string_agg(permission, ',') FROM user_permissions WHERE user_id = $sub"),
   'org.view', 'the grants are what they were');

# --- dates --------------------------------------------------------------------

for my $q ('from=2026-02-30', 'to=2026-04-31', 'from=0000-01-01', 'from=2026-13-01',
           'from=2025-02-29', 'from=2026-1-1') {
    my ($field) = $q =~ /^(\w+)/;
    refused("the audit log from $q", $field, qr/日期|这一天/, 'sy_admin', 'GET', "/api/audit?$q");
}
refused('an end before the start', 'to', qr/早于/, 'sy_admin', 'GET',
        '/api/audit?from=2026-03-02&to=2026-03-01');
{
    my ($st) = call('sy_admin', 'GET', '/api/audit?from=2024-02-29&to=2024-02-29');
    is($st, 200, 'a leap day is a day');
    my $r = $http->get("$base/audit?from=2026-02-30", { headers => { Cookie => "vbp_sid=$as{sy_admin}{sid}" } });
    is($r->{status}, 422, 'the audit page with an impossible date: 422, not 500');
    like(Encode::decode_utf8($r->{content}), qr/没有这一天/, '... with the message on the page');
}

# --- imports --------------------------------------------------------------------

sub import_file {
    my ($who, $bytes, $type) = @_;
    return call($who, 'POST', '/api/orgs/import?kind=hospital', $bytes, $type // 'text/csv');
}

sub import_refused {
    my ($what, $bytes, $type, @want) = @_;
    my $before = state_of();
    my ($st, $d, $raw) = import_file('sy_admin', $bytes, $type);
    is($st, 422, "$what: 422") or diag($raw);
    for my $w (@want) {
        my ($line, $field, $like) = @$w;
        ok(scalar(grep { $_->{line} == $line && ($_->{field} // '') eq $field && $_->{message} =~ $like }
                  @{ $d->{error}{rows} // [] }),
           "... line $line, field $field: " . $json->encode($d->{error}{rows} // $raw));
    }
    is(state_of(), $before, '... and nothing was imported');
    return $d;
}

my $head = "编码,名称,区划编码,级别\n";
import_refused('a NUL inside a code', $head . "T23NU\0L002,沈阳测试医院,210100,二级\n", undef,
               [2, 'code', qr/控制字符/]);
import_refused('a control character in a name', $head . "T23C001,沈阳\x01测试医院,210100,二级\n", undef,
               [2, 'name', qr/控制字符/]);
import_refused('a bidi override in a name', $head . "T23B001,沈阳\x{202e}测试医院,210100,二级\n", undef,
               [2, 'name', qr/不可见/]);

# out of scope looks like not there: Dalian's region and hospital, and a
# manufacturer's code, are "not found or not yours" and "taken"
my $maker = vbp_sql("SELECT code FROM orgs WHERE kind = 'manufacturer' LIMIT 1");
my $d = import_refused('codes and regions outside the scope',
                       $head . "T23S001,大连的医院,210200,二级\nT23S002,不存在的区划,219999,二级\n"
                       . "H21020200012,大连的已有医院,210100,二级\n$maker,生产企业的编码,210100,二级\n", undef,
                       [2, 'region_code', qr/^区划编码不存在或不在管辖范围内$/],
                       [3, 'region_code', qr/^区划编码不存在或不在管辖范围内$/],
                       [4, 'code', qr/已被占用/], [5, 'code', qr/已被占用/]);
unlike($json->encode($d), qr/类型|大连|生产企业的编码已/, 'no answer says whose or what kind');

sub sheet_row { my ($r, @cells) = @_;
    my $c = 'A';
    return qq{<row r="$r">} . join('', map { my $x = qq{<c r="$c$r" t="inlineStr"><is><t>$_</t></is></c>}; $c++; $x } @cells) . '</row>';
}
my $xhead = sheet_row(1, qw(编码 名称 区划编码 级别));
my $xlsx = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

for my $case (['2147483648', 'a row number of 2^31'], ['0', 'row 0'], ['-1', 'a negative row'],
              ['1048577', 'a row past Excel\'s last'], ['2x', 'a row number that is not one']) {
    my ($r, $what) = @$case;
    (my $row = sheet_row(2, 'T23X001', '沈阳测试医院', '210100', '二级')) =~ s/r="2"/r="$r"/;
    $row =~ s/r="([A-D])2"/r="$1$r"/g;
    import_refused("XLSX: $what", vbp_xlsx_raw($xhead . $row), $xlsx, [2, '', qr/行号无效/]);
}
import_refused('XLSX: rows out of order',
               vbp_xlsx_raw($xhead . sheet_row(3, 'T23X001', '沈阳测试医院', '210100', '二级')
                            . sheet_row(2, 'T23X002', '沈阳测试医院乙', '210100', '二级')), $xlsx,
               [4, '', qr/行号无效/]);
{
    (my $row = sheet_row(2, 'T23X001', '沈阳测试医院', '210100', '二级')) =~ s/r="B2"/r="B9"/;
    import_refused('XLSX: a cell of another row', vbp_xlsx_raw($xhead . $row), $xlsx,
                   [2, '', qr/单元格位置无效/]);
}
{
    my $row = '<row r="2"><c r="A2" t="s"><v>7</v></c><c r="B2" t="inlineStr"><is><t>甲</t></is></c>'
            . '<c r="C2" t="inlineStr"><is><t>210100</t></is></c></row>';
    import_refused('XLSX: a shared string that is not there', vbp_xlsx_raw($xhead . $row, 'x'), $xlsx,
                   [2, 'code', qr/共享字符串/]);
}
{
    my ($st, $d, $raw) = import_file('sy_admin', vbp_xlsx_raw($xhead
        . sheet_row(2, 'T23X001', '沈阳测试医院', '210100', '二级')
        . sheet_row(5, 'T23X002', '沈阳测试医院乙', '210100', '二级')), $xlsx);
    is($st, 200, 'XLSX with gaps between rows imports') or diag($raw);
    is($d->{rows}, 2, '... 2 rows');
    is($d->{inserted}, vbp_sql("SELECT count(*) FROM orgs WHERE code IN ('T23X001', 'T23X002')"),
       '... and the answer counts what was stored');
}

# --- the probe of usernames, which are unique across the platform -------------------

{
    my $uid = vbp_sql("SELECT id FROM users WHERE username = 'sy_admin'");
    vbp_redis('DEL', "vbp:probe:$uid");
    # an org without a main account: only the username can be taken
    vbp_sql("INSERT INTO orgs (code, name, kind, region_id) SELECT 'T23P001', '探测医院',"
            . " 'hospital', id FROM regions WHERE code = '210100'");
    my @taken = vbp_sql("SELECT username FROM users WHERE username NOT LIKE 't23%' ORDER BY id LIMIT 20");
    my $conflicts = 0;
    for my $name (@taken) {
        my ($st) = call('sy_admin', 'POST', '/api/users/create',
                        { username => $name, display_name => '探测', org_code => 'T23P001' });
        $conflicts++ if $st == 409;
    }
    is($conflicts, 20, '20 taken usernames: 20 answers of 409');
    my ($st, $d) = call('sy_admin', 'POST', '/api/users/create',
                        { username => $taken[0], display_name => '探测', org_code => 'T23P001' });
    is($st, 429, 'the next probe is refused (429) ...');
    like($d->{error}{message}, qr/10 分钟/, '... saying for how long');
    vbp_redis('DEL', "vbp:probe:$uid");
}

# --- a JSON body passed to the worker as it came (ngx_http_vbp_body_as_is) ---------
# nginx no longer parses a JSON API body it needs nothing of: whatever is
# wrong with it is still a 400 with its message, never a 5xx, and a body
# the frame could not carry as it came (not UTF-8) is judged by nginx

{
    my $before = state_of();
    for my $case (['{"display_name":', 'cut short'], ['[1, 2]', 'an array'], ['"text"', 'a string'],
                  ['{"a":1,"a":2}', 'a key twice'], ['{"a":"' . "\x01\x02" . '"}', 'raw control characters'],
                  ["{\"a\":\"\xff\xfe\"}", 'bytes that are not UTF-8'], ['{"a":"\\ud800"}', 'a lone surrogate'],
                  ['{} {}', 'two objects'], [('{"a":' x 3000) . '1' . ('}' x 3000), 'nested 3,000 deep']) {
        my ($st, $d, $raw) = call('sy_admin', 'POST', '/api/users/create', $case->[0]);
        is($st, 400, "a body of $case->[1]: 400") or diag($raw);
        is($d->{error}{message}, '请求体不是合法的 JSON 对象', '... saying the body is no JSON object');
    }
    is(state_of(), $before, '... and nothing changed');
    my ($st, $d) = call('sy_admin', 'POST', '/api/users/create',
                        '{"username":"t23_asis","display_name":"原样\u4f20\u9012","org_code":"T23P001"}');
    is($st, 201, 'a body with escapes, passed as it came: 201');
    is(Encode::decode_utf8(vbp_sql("SELECT display_name FROM users WHERE username = 't23_asis'")), '原样传递', '... read as sent');
    unlike(vbp_error_log(), qr/refused a frame/, 'no frame was refused by the worker');
}

# --- the lock table stays the size of a day's failures ---------------------------

{
    vbp_sql("DELETE FROM login_locks WHERE username LIKE 't23_stale%'");
    vbp_sql("INSERT INTO login_locks (username, client, failures, window_start)"
            . " SELECT 't23_stale' || g, '10.7.7.7', 1, now() - interval '2 days'"
            . " FROM generate_series(1, 25) g");
    my $a = vbp_frame({ op => 'auth.login', ip => '10.7.7.8', captcha_ok => JSON::PP::false,
                        args => { username => 't23_nobody', password => 'Any@Pass12345' } });
    is($a->{status}, 401, 'a sign-in with a wrong captcha is refused');
    is(vbp_sql("SELECT count(*) FROM login_locks WHERE username LIKE 't23_stale%'"), 15,
       '... and sweeps 10 of the pairs nobody used for a day');
    vbp_sql("DELETE FROM login_locks WHERE username LIKE 't23_%'");
}

done_testing();
