# Importing hospitals and manufacturers from CSV or XLSX (seed 004): every
# row is checked first and the file applies all or nothing; the answer
# lists each bad row with its line and reason; importing the same file
# again changes nothing; broken quoting, broken encoding, malformed
# workbooks and oversized uploads are refused with messages for the file
# field, and nothing changes.

use lib 't/lib';
use VBP::Test;
use Test::Nginx::Socket 'no_plan';
use HTTP::Tiny;

vbp_blocks();
no_shuffle();
run_tests();

# a 50 MB upload: refused by size before the worker sees it
{
    my $base = vbp_nginx_start();
    my $t = vbp_setup('login sy_admin Demo@Pass1234');
    my $r = HTTP::Tiny->new(timeout => 60)->post(
        "$base/api/orgs/import?kind=hospital",
        { content => 'x' x (50 * 1024 * 1024),
          headers => { Cookie => "vbp_sid=$t->{'@SID@'}", 'X-CSRF-Token' => $t->{'@CSRF@'},
                       'Content-Type' => 'text/csv' } });
    is($r->{status}, 413, 'a 50 MB upload: 413');
    like($r->{content}, qr/^\{"error":\{"code":"too_large","message":"[^"]+","fields":\{"file":/,
         '... with the message on the file field');
    vbp_nginx_stop();
}

is(vbp_sql("SELECT count(*) FROM orgs WHERE code LIKE 'T22%'"), 3,
   'after every refused file, only the good imports are there');
is(vbp_sql("SELECT count(*) FROM org_import_rows"), 0, 'the staging table is empty');
is(vbp_sql("SELECT count(*) FROM audit_log a JOIN users u ON u.id::text = a.target_id"
           . " WHERE a.action = 'user_created' AND u.username LIKE 'T22H%'"), 3,
   'every account an import created is audited');

__DATA__

=== TEST 1: a city imports its hospitals: new orgs, each with a main account
--- setup
sql DELETE FROM audit_log WHERE actor_user_id IN (SELECT u.id FROM users u JOIN orgs o ON o.id = u.org_id WHERE o.code LIKE 'T22%')
sql DELETE FROM users WHERE org_id IN (SELECT id FROM orgs WHERE code LIKE 'T22%')
sql DELETE FROM orgs WHERE code LIKE 'T22%'
user sy_admin password=Demo@Pass1234 must_change=0
login sy_admin Demo@Pass1234
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Content-Type: text/csv
--- request eval
"POST /api/orgs/import?kind=hospital
\xEF\xBB\xBF编码,名称,区划编码,级别\r
T22H001,沈阳市导入医院一,210100,二级甲等\r
T22H002,\"沈阳市\"\"导入\"\"医院,二\",210100,\r
"
--- response_body
{"rows":2,"inserted":2,"updated":0,"unchanged":0,"accounts":2,"summary":"共 2 行，新增 2，更新 0，未变 0，新建主账号 2","message":"导入完成"}
--- no_error_log
[error]



=== TEST 2: the same file again changes nothing
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Content-Type: text/csv
--- request eval
"POST /api/orgs/import?kind=hospital
\xEF\xBB\xBF编码,名称,区划编码,级别\r
T22H001,沈阳市导入医院一,210100,二级甲等\r
T22H002,\"沈阳市\"\"导入\"\"医院,二\",210100,\r
"
--- response_body
{"rows":2,"inserted":0,"updated":0,"unchanged":2,"accounts":0,"summary":"共 2 行，新增 0，更新 0，未变 2，新建主账号 0","message":"导入完成：没有需要更新的数据"}



=== TEST 3: the imported orgs are in the directory, names as written
--- more_headers
Cookie: vbp_sid=@SID@
--- request
GET /api/orgs?q=T22H
--- response_body_like chomp
"code":"T22H001","name":"沈阳市导入医院一","kind":"hospital","category":"二级甲等",.*"main_username":"T22H001".*"code":"T22H002","name":"沈阳市\\"导入\\"医院,二"



=== TEST 4: bad rows: each with its line and reason, and nothing is imported
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Content-Type: text/csv
--- request eval
"POST /api/orgs/import?kind=hospital
name,code,region_code
好医院,T22H003,210100
坏区划,T22H004,999999
外市,T22H005,210200
重复,T22H003,210100
短,X,210100
,T22H006,210100
别人的,H21020200012,210100
" . ("长" x 101) . ",T22H007,210100
省级,T22H008,210000
"
--- error_code: 422
--- response_body
{"error":{"code":"invalid_file","message":"文件中有 8 行有误，未导入任何数据，请改正后重新导入","fields":{"file":"文件中有 8 行有误，未导入任何数据，请改正后重新导入"},"rows":[{"line":3,"field":"region_code","column":"区划编码","message":"区划编码不存在或不在管辖范围内"},{"line":4,"field":"region_code","column":"区划编码","message":"区划编码不存在或不在管辖范围内"},{"line":5,"field":"code","column":"编码","message":"编码与第 2 行重复"},{"line":6,"field":"code","column":"编码","message":"编码应为 3 到 32 位字母、数字、_ 或 -"},{"line":7,"field":"name","column":"名称","message":"名称不能为空"},{"line":8,"field":"code","column":"编码","message":"该编码已被占用，不能导入（如确属本辖区机构，请联系上级管理员）"},{"line":9,"field":"name","column":"名称","message":"名称不能超过 100 个字"},{"line":10,"field":"region_code","column":"区划编码","message":"区划编码不存在或不在管辖范围内"}]}}



=== TEST 5: broken quoting is a row error with its line
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Content-Type: text/csv
--- request eval
"POST /api/orgs/import?kind=hospital
编码,名称,区划编码
T22H009,好\"医院,210100
\"T22H010,未闭合,210100
"
--- error_code: 422
--- response_body_like chomp
"rows":\[\{"line":2,"field":null,"column":null,"message":"引号位置不正确（字段中的引号须写成两个引号，并用引号括住整个字段）"\},\{"line":3,"field":null,"column":null,"message":"引号未闭合"\}\]



=== TEST 6: a file that is not UTF-8 (GBK from Excel) is refused with a hint
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Content-Type: text/csv
--- request eval
"POST /api/orgs/import?kind=hospital
code,name,region_code
T22H011,\xC4\xE3\xBA\xC3\xD2\xBD\xD4\xBA,210100
"
--- error_code: 422
--- response_body_like chomp
"message":"文件不是 UTF-8 编码（像是 Excel 的“CSV（逗号分隔）”，即 GBK 编码），请在 Excel 中另存为“CSV UTF-8（逗号分隔）”，或直接上传 XLSX，未导入任何数据"



=== TEST 7: a header without the required columns, an empty file, a file of only a header
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Content-Type: text/csv
--- request eval
["POST /api/orgs/import?kind=hospital
医院,地址
甲,乙
",
"POST /api/orgs/import?kind=hospital
,,\r\n , ,\r\n",
"POST /api/orgs/import?kind=hospital
code,name,region_code
",
"POST /api/orgs/import?kind=clinic
code,name,region_code
"]
--- error_code eval
[422, 422, 422, 422]
--- response_body_like eval
['"message":"表头不正确，未导入任何数据".*"rows":\[\{"line":1,"field":null,"column":null,"message":"第 1 行表头缺少列：编码、名称、区划编码', '"message":"文件中没有数据，未导入任何数据"', '"message":"文件中只有表头，没有数据行，未导入任何数据"', '"fields":\{"kind":"取值无效"\}']



=== TEST 8: an XLSX workbook imports the same way (shared strings, numbers as codes)
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet
--- request eval
"POST /api/orgs/import?kind=hospital\n" . VBP::Test::vbp_xlsx(["编码", "名称", "区划编码", "级别"], ["T22H012", "沈阳市表格医院", "210100", "一级"])
--- response_body
{"rows":1,"inserted":1,"updated":0,"unchanged":0,"accounts":1,"summary":"共 1 行，新增 1，更新 0，未变 0，新建主账号 1","message":"导入完成"}



=== TEST 9: a workbook with a bad row says which row
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
--- request eval
"POST /api/orgs/import?kind=hospital\n" . VBP::Test::vbp_xlsx(["编码", "名称", "区划编码"], ["T22H013", "好医院", "210100"], ["T22H014", "坏医院", "888888"])
--- error_code: 422
--- response_body_like chomp
"rows":\[\{"line":3,"field":"region_code","column":"区划编码","message":"区划编码不存在或不在管辖范围内"\}\]



=== TEST 10: a malformed workbook, and a zip that is not one
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
--- request eval
["POST /api/orgs/import?kind=hospital\nPK\x03\x04 this is not a zip archive at all",
"POST /api/orgs/import?kind=hospital\n" . substr(VBP::Test::vbp_xlsx(["编码", "名称", "区划编码"], ["T22H015", "医院", "210100"]), 0, 300)]
--- error_code eval
[422, 422]
--- response_body_like eval
['"fields":\{"file":"文件不是有效的 XLSX 工作簿，未导入任何数据"\}', '"fields":\{"file":"[^"]+，未导入任何数据"\}']



=== TEST 11: a changed file updates what changed, and only that
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Content-Type: text/csv
--- request eval
"POST /api/orgs/import?kind=hospital
编码,名称,区划编码,级别
T22H001,沈阳市导入医院一（新名）,210100,二级甲等
T22H002,\"沈阳市\"\"导入\"\"医院,二\",210100,
"
--- response_body
{"rows":2,"inserted":0,"updated":1,"unchanged":1,"accounts":0,"summary":"共 2 行，新增 0，更新 1，未变 1，新建主账号 0","message":"导入完成"}



=== TEST 12: manufacturers are the alliance's; a hospital imports nothing
--- setup
user H21010200011 password=Demo@Pass1234 must_change=0 status=active
login H21010200011 Demo@Pass1234 as=H
--- more_headers eval
["Cookie: vbp_sid=\@SID\@\nX-CSRF-Token: \@CSRF\@\nContent-Type: text/csv", "Cookie: vbp_sid=\@SID_H\@\nX-CSRF-Token: \@CSRF_H\@\nContent-Type: text/csv", "Cookie: vbp_sid=\@SID\@\nContent-Type: text/csv"]
--- request eval
["POST /api/orgs/import?kind=manufacturer
code,name,region_code
T22M001,某医疗器械有限公司,210100
", "POST /api/orgs/import?kind=hospital
code,name,region_code
T22H020,医院,210100
", "POST /api/orgs/import?kind=hospital
code,name,region_code
T22H021,没有令牌,210100
"]
--- error_code eval
[403, 403, 403]
--- response_body_like eval
['"message":"只有联采办可以导入生产企业"', '"forbidden"', '"code":"csrf"']



=== TEST 13: the import is audited, with the accounts it created
--- more_headers
Cookie: vbp_sid=@SID@
--- request
GET /api/audit?action=orgs_imported&per_page=10
--- response_body_like chomp
"action":"orgs_imported","target_type":"import","target_id":"[0-9a-f]{64}",.*"detail":\{"kind":"hospital","rows":2,"bytes":\d+,"updated":1,"accounts":0,"inserted":0\}
