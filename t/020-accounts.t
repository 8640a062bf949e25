# Accounts (seed 004 user management, seed 001 sub-users, seeds 000/002
# resets): who manages whom, creation with a one-time password, unique
# usernames, field-level errors, edits that keep the username, resets and
# disables that end sessions at once, all-or-nothing batches, sub-accounts
# and their permission tree, regions, and the audit log of all of it.

use lib 't/lib';
use VBP::Test;
use Test::Nginx::Socket 'no_plan';

vbp_blocks();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a city's user list holds its hospitals' accounts and nothing else
--- setup
sql DELETE FROM audit_log WHERE actor_user_id IN (SELECT id FROM users WHERE username ILIKE 't20%' OR org_id IN (SELECT id FROM orgs WHERE code ILIKE 'T20%'))
sql DELETE FROM users WHERE username ILIKE 't20%' OR org_id IN (SELECT id FROM orgs WHERE code ILIKE 'T20%')
sql DELETE FROM orgs WHERE code ILIKE 'T20%' OR code IN ('YB210400', 'YB220000', 'YB229900')
sql DELETE FROM regions WHERE code IN ('210400', '229900')
sql DELETE FROM regions WHERE code = '220000'
sql INSERT INTO orgs (code, name, kind, region_id, category) SELECT 'T20H001', '测试医院甲', 'hospital', id, '二级' FROM regions WHERE code = '210100'
sql UPDATE users SET status = 'active' WHERE username IN ('H21010200011', 'H21010200022', 'sy_admin')
user sy_admin password=Demo@Pass1234 must_change=0
user H21010200011 password=Demo@Pass1234 must_change=0
user ln_admin password=Demo@Pass1234 must_change=0
user lcb_admin password=Demo@Pass1234 must_change=0
user dl_admin password=Demo@Pass1234 must_change=0
login sy_admin Demo@Pass1234
login H21010200011 Demo@Pass1234
login ln_admin Demo@Pass1234
login lcb_admin Demo@Pass1234
login dl_admin Demo@Pass1234
token SYTOTAL SELECT count(*) FROM users u JOIN orgs o ON o.id = u.org_id JOIN regions r ON r.id = o.region_id WHERE r.code = '210100' AND o.kind = 'hospital'
--- more_headers
Cookie: vbp_sid=@SID@
--- request
GET /api/users?per_page=100
--- response_body_like chomp
^\{"items":\[\{"id":\d+,"username":"H21010.*"total":@SYTOTAL@,"page":1,"per_page":100,
--- response_body_unlike
"region_name":"(?!沈阳市)|"org_kind":"(?!hospital)
--- no_error_log
[error]



=== TEST 2: search by name and status, paging with a total
--- more_headers
Cookie: vbp_sid=@SID@
--- request
GET /api/users?q=%E7%9B%9B%E4%BA%AC&status=active&per_page=10&page=1
--- response_body_like chomp
^\{"items":\[\{"id":\d+,"username":"H21010200022","display_name":"中国医科大学附属盛京医院".*\],"total":1,"page":1,"per_page":10,"pages":1,
--- no_error_log
[error]



=== TEST 3: page sizes are 10, 20, 50 or 100; a page not a number is the first, one past the end the last
--- more_headers
Cookie: vbp_sid=@SID@
--- request eval
["GET /api/users?per_page=7", "GET /api/users?status=deleted", "GET /api/users?page=0&per_page=10",
 "GET /api/users?page=abc&per_page=10", "GET /api/users?page=99999999999&per_page=10",
 "GET /api/users?jump=abc&per_page=10", "GET /api/users?q=nobody-at-all&page=7"]
--- error_code eval
[422, 422, 200, 200, 200, 200, 200]
--- response_body_like eval
['"fields":\{"per_page":"每页条数应为 10、20、50 或 100"\}', '"fields":\{"status":"取值无效"\}',
 '^\{"items":\[\{.*?"seq":1\},.*"page":1,"per_page":10,',
 '"page":1,"per_page":10,',
 '"page":(\d+),"per_page":10,"pages":\1,"has_prev":(?:true|false),"has_next":false,',
 '^\{"items":\[\{.*?"seq":1\},.*"page":1,"per_page":10,',
 '^\{"items":\[\],"total":0,"page":1,"per_page":20,"pages":1,"has_prev":false,"has_next":false']



=== TEST 4: a city creates the main account of its hospital: a one-time password, shown once
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Content-Type: application/json
--- request
POST /api/users/create
{"username":"t20_sy01","display_name":"测试医院甲管理员","phone":"13800000001","org_code":"T20H001"}
--- error_code: 201
--- response_body_like chomp
^\{"id":\d+,"username":"t20_sy01","password":"[A-HJ-NP-Za-km-z2-9]{12}","message":"账户已创建。初始密码只显示这一次，请转交本人，首次登录须修改密码"\}$
--- no_error_log
[error]



=== TEST 5: usernames are unique; an org has one main account (409 next to the field)
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Content-Type: application/json
--- request eval
["POST /api/users/create
{\"username\":\"t20_sy01\",\"display_name\":\"重复\",\"org_code\":\"H21010400044\"}",
"POST /api/users/create
{\"username\":\"t20_sy02\",\"display_name\":\"第二个\",\"org_code\":\"T20H001\"}"]
--- error_code eval
[409, 409]
--- response_body eval
["{\"error\":{\"code\":\"conflict\",\"message\":\"该单位已有主账号\",\"fields\":{\"org_code\":\"该单位已有主账号\"}}}\n",
"{\"error\":{\"code\":\"conflict\",\"message\":\"该单位已有主账号\",\"fields\":{\"org_code\":\"该单位已有主账号\"}}}\n"]



=== TEST 6: a taken username is a 409 on the username
--- setup
sql INSERT INTO orgs (code, name, kind, region_id) SELECT 'T20H002', '测试医院乙', 'hospital', id FROM regions WHERE code = '210100'
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Content-Type: application/json
--- request
POST /api/users/create
{"username":"t20_sy01","display_name":"重名","org_code":"T20H002"}
--- error_code: 409
--- response_body
{"error":{"code":"conflict","message":"用户名已存在（用户名全平台唯一），请换一个","fields":{"username":"用户名已存在（用户名全平台唯一），请换一个"}}}



=== TEST 7: bad input: every field gets its own message, nothing is created
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Content-Type: application/json
--- request eval
["POST /api/users/create
{\"username\":\"t2\",\"display_name\":\"\",\"phone\":\"12345\",\"org_code\":\"T20H002\"}",
"POST /api/users/create
{\"username\":\"t20 bad!\",\"display_name\":\"" . ("长" x 33) . "\",\"org_code\":\"T20H002\"}",
"POST /api/users/create
{\"username\":12,\"display_name\":[\"x\"],\"org_code\":\"T20H002\"}",
"POST /api/users/create
{\"username\":\"t20_sy03\",\"display_name\":\"名字\"}",
"POST /api/users/create
{\"username\":\"t20_sy03\",\"display_name\":\"名字\",\"region_code\":\"999999\"}",
"POST /api/users/create
{\"username\":\"t20_sy03\",",
"GET /api/users?q=t20_sy03"]
--- error_code eval
[422, 422, 422, 422, 404, 400, 200]
--- response_body_like eval
['"fields":\{"username":"用户名为 3 到 32 位字母、数字或 _ . @ -","display_name":"请输入姓名","phone":"手机号应为 1 开头的 11 位数字，可不填"\}',
'"fields":\{"username":"用户名为 3 到 32 位字母、数字或 _ . @ -","display_name":"长度应为 1 到 32 个字符"\}',
'"fields":\{"username":"应为文本","display_name":"应为文本"\}',
'"fields":\{"org_code":"请选择所属单位"\}',
'"fields":\{"region_code":"区划不存在或不在管辖范围内"\}',
'"code":"bad_request"',
'"total":0']



=== TEST 8: an org outside the city is not there (404), and nothing is created
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Content-Type: application/json
--- request eval
["POST /api/users/create
{\"username\":\"t20_out\",\"display_name\":\"越权\",\"org_code\":\"H21020200012\"}",
"GET /api/users?q=t20_out"]
--- error_code eval
[404, 200]
--- response_body_like eval
['"code":"not_found","message":"单位不存在或不在管辖范围内","fields":\{"org_code":"单位不存在或不在管辖范围内"\}', '"total":0']



=== TEST 9: an edit changes name and phone; the username never changes
--- setup
token T20ID SELECT id FROM users WHERE username = 't20_sy01'
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Content-Type: application/json
--- request
POST /api/users/update
{"id":@T20ID@,"username":"t20_renamed","display_name":"新名字","phone":"13900000000"}
--- response_body_like
^\{"id":@T20ID@,"username":"t20_sy01","display_name":"新名字","phone":"13900000000",.*"message":"已保存"\}



=== TEST 10: a reset gives a new one-time password and ends the target's sessions at once
--- setup
user t20_sy01 password=Demo@Pass1234 must_change=0
login t20_sy01 Demo@Pass1234 as=T20
--- more_headers eval
["Cookie: vbp_sid=\@SID_T20\@", "Cookie: vbp_sid=\@SID\@\nX-CSRF-Token: \@CSRF\@\nContent-Type: application/json", "Cookie: vbp_sid=\@SID_T20\@"]
--- request eval
["GET /api/me", "POST /api/users/reset-password
{\"id\":\@T20ID\@}", "GET /api/me"]
--- error_code eval
[200, 200, 401]
--- response_body_like eval
['"username":"t20_sy01"', '^\{"username":"t20_sy01","password":"[A-HJ-NP-Za-km-z2-9]{12}","message":"密码已重置。新密码只显示这一次，请转交本人，登录后须修改密码"\}$', '"unauthenticated"']



=== TEST 12: disabling an account signs it out at once; it cannot sign in; enabling restores it
--- setup
user H21010200022 password=Demo@Pass1234 must_change=0
login H21010200022 Demo@Pass1234 as=H22
token H22 SELECT id FROM users WHERE username = 'H21010200022'
captcha
--- more_headers eval
["Cookie: vbp_sid=\@SID_H22\@",
"Cookie: vbp_sid=\@SID\@\nX-CSRF-Token: \@CSRF\@\nContent-Type: application/json",
"Cookie: vbp_sid=\@SID_H22\@",
"Cookie: vbp_cap=\@CAPID\@\nContent-Type: application/x-www-form-urlencoded",
"Cookie: vbp_sid=\@SID\@\nX-CSRF-Token: \@CSRF\@\nContent-Type: application/json",
"Cookie: vbp_sid=\@SID\@"]
--- request eval
["GET /api/me",
"POST /api/users/status
{\"ids\":[\@H22\@],\"status\":\"disabled\"}",
"GET /api/me",
"POST /api/login
username=H21010200022&password=Demo%40Pass1234&captcha=\@CAP\@",
"POST /api/users/status
{\"ids\":[\@H22\@],\"status\":\"active\"}",
"GET /api/users/get?id=\@H22\@"]
--- error_code eval
[200, 200, 401, 403, 200, 200]
--- response_body_like eval
['"username":"H21010200022"', '^\{"changed":1,"message":"已停用 1 个账户"\}$', 'unauthenticated', '"code":"account_disabled"', '^\{"changed":1,"message":"已启用 1 个账户"\}$', '"status":"active"']



=== TEST 13: a batch with one account outside the scope changes nothing (404)
--- setup
token DLH SELECT id FROM users WHERE username = 'H21020200012'
--- more_headers eval
["Cookie: vbp_sid=\@SID\@\nX-CSRF-Token: \@CSRF\@\nContent-Type: application/json", "Cookie: vbp_sid=\@SID\@"]
--- request eval
["POST /api/users/status
{\"ids\":[\@H22\@,\@DLH\@],\"status\":\"disabled\"}", "GET /api/users/get?id=\@H22\@"]
--- error_code eval
[404, 200]
--- response_body_like eval
['^\{"error":\{"code":"not_found","message":"部分账户不存在或不在管辖范围内，未做任何修改"', '"status":"active"']



=== TEST 14: a hospital has no user management: 403 on the server, whatever the menu shows
--- more_headers
Cookie: vbp_sid=@SID2@
--- request eval
["GET /api/users", "GET /users", "GET /api/audit", "GET /api/orgs"]
--- error_code eval
[403, 403, 403, 403]



=== TEST 15: a main account adds a sub-account (enabled) and grants it one permission
--- more_headers
Cookie: vbp_sid=@SID2@
X-CSRF-Token: @CSRF2@
Content-Type: application/json
--- request eval
["POST /api/subusers/create
{\"username\":\"t20_sub1\",\"display_name\":\"张三Zhang3\",\"permissions\":[\"org.view\"]}",
"GET /api/subusers"]
--- error_code eval
[201, 200]
--- response_body_like eval
['^\{"id":\d+,"username":"t20_sub1","password":"[A-HJ-NP-Za-km-z2-9]{12}"', '"username":"t20_sub1","display_name":"张三Zhang3",.*"status":"active","main_account":false,.*"permissions":\["org.view"\],"active":true']



=== TEST 16: sub-account names: Chinese characters, letters and digits only
--- more_headers
Cookie: vbp_sid=@SID2@
X-CSRF-Token: @CSRF2@
Content-Type: application/json
--- request eval
["POST /api/subusers/create
{\"username\":\"t20_sub2\",\"display_name\":\"张 三\"}",
"POST /api/subusers/create
{\"username\":\"t20_sub2\",\"display_name\":\"<script>\"}"]
--- error_code eval
[422, 422]
--- response_body_like eval
['"display_name":"子用户名称只能包含汉字、字母和数字，1 到 32 个字"', '"display_name":"子用户名称只能包含汉字、字母和数字，1 到 32 个字"']



=== TEST 17: the permission tree: groups that unfold into leaves the org may hold
--- setup
token SUB1 SELECT id FROM users WHERE username = 't20_sub1'
--- more_headers
Cookie: vbp_sid=@SID2@
--- request
GET /api/permissions/tree?id=@SUB1@
--- response_body
{"tree":[{"code":"report","name":"报量项目管理","children":[{"code":"report.file","name":"报量填报","granted":false}]},{"code":"account","name":"账户","children":[{"code":"org.view","name":"本单位信息","granted":true},{"code":"account.subusers","name":"子用户管理","granted":false}]}],"account":{"username":"t20_sub1","display_name":"张三Zhang3"}}



=== TEST 18: nothing beyond the main account's own permissions can be granted
--- more_headers
Cookie: vbp_sid=@SID2@
X-CSRF-Token: @CSRF2@
Content-Type: application/json
--- request eval
["POST /api/subusers/grant
{\"id\":\@SUB1\@,\"permissions\":[\"admin.users\"]}",
"POST /api/subusers/grant
{\"id\":\@SUB1\@,\"permissions\":[\"account\"]}",
"POST /api/subusers/grant
{\"id\":\@SUB1\@,\"permissions\":[\"no.such\"]}",
"GET /api/subusers/get?id=\@SUB1\@"]
--- error_code eval
[422, 422, 422, 200]
--- response_body_like eval
['"permissions":"权限不存在或不能授予子用户"', '"permissions":"权限不存在或不能授予子用户"', '"permissions":"权限不存在或不能授予子用户"', '"permissions":\["org.view"\]']



=== TEST 19: the sub-account holds only what it was given, and manages nothing
--- setup
user t20_sub1 password=Demo@Pass1234 must_change=0
login t20_sub1 Demo@Pass1234 as=SUB
--- more_headers
Cookie: vbp_sid=@SID_SUB@
--- request eval
["GET /api/me", "GET /api/subusers", "GET /api/org", "GET /"]
--- error_code eval
[200, 403, 200, 200]
--- response_body_like eval
['"main_account":false,.*"permissions":\["home","account","account.password","org.view"\]', '"forbidden"', '"code":"H21010200011"', '<nav class="menu" id="menu" aria-label="主菜单">\s*<ul>\s*<li class="group">\s*<ul><li><a href="/" class="current" aria-current="page">首页</a></li></ul>\s*</li>\s*<li class="group"><span class="group-title">公告通知</span>\s*<ul><li><a href="/notices">公告通知</a></li></ul>\s*</li>\s*<li class="group"><span class="group-title">系统管理</span>\s*<ul><li><a href="/password">密码修改</a></li></ul>\s*</li>\s*</ul>\s*</nav>']



=== TEST 20: a grant ends the sub-account's sessions: the new permissions apply at the next sign-in
--- more_headers eval
["Cookie: vbp_sid=\@SID2\@\nX-CSRF-Token: \@CSRF2\@\nContent-Type: application/json", "Cookie: vbp_sid=\@SID_SUB\@"]
--- request eval
["POST /api/subusers/grant
{\"id\":\@SUB1\@,\"permissions\":[\"account.subusers\"]}", "GET /api/me"]
--- error_code eval
[200, 401]



=== TEST 21: a sub-account granted sub-user management manages the others, not itself
--- setup
login t20_sub1 Demo@Pass1234 as=SUBB
--- more_headers
Cookie: vbp_sid=@SID_SUBB@
X-CSRF-Token: @CSRF_SUBB@
Content-Type: application/json
--- request eval
["POST /api/subusers/create
{\"username\":\"t20_sub3\",\"display_name\":\"李四\",\"permissions\":[\"account.subusers\"]}",
"POST /api/subusers/create
{\"username\":\"t20_sub4\",\"display_name\":\"王五\",\"permissions\":[\"org.view\"]}",
"POST /api/subusers/reset-password
{\"id\":\@SUB1\@}",
"GET /api/subusers"]
--- error_code eval
[201, 403, 404, 200]
--- response_body_like eval
['"username":"t20_sub3"', '"permissions":"不能授予自己没有的权限"', '"code":"not_found"', '^(?!.*"username":"t20_sub1").*"username":"t20_sub3"']



=== TEST 22: disabling a main account signs out its sub-accounts too
--- setup
token H11 SELECT id FROM users WHERE username = 'H21010200011'
--- more_headers eval
["Cookie: vbp_sid=\@SID\@\nX-CSRF-Token: \@CSRF\@\nContent-Type: application/json", "Cookie: vbp_sid=\@SID_SUBB\@", "Cookie: vbp_sid=\@SID\@\nX-CSRF-Token: \@CSRF\@\nContent-Type: application/json"]
--- request eval
["POST /api/users/status
{\"ids\":[\@H11\@],\"status\":\"disabled\"}", "GET /api/me", "POST /api/users/status
{\"ids\":\"\@H11\@\",\"status\":\"active\"}"]
--- error_code eval
[200, 401, 200]



=== TEST 23: a province adds a city (with its bureau); a city adds no region
--- more_headers eval
["Cookie: vbp_sid=\@SID3\@\nX-CSRF-Token: \@CSRF3\@\nContent-Type: application/json",
"Cookie: vbp_sid=\@SID3\@\nX-CSRF-Token: \@CSRF3\@\nContent-Type: application/json",
"Cookie: vbp_sid=\@SID3\@\nX-CSRF-Token: \@CSRF3\@\nContent-Type: application/json",
"Cookie: vbp_sid=\@SID\@\nX-CSRF-Token: \@CSRF\@\nContent-Type: application/json",
"Cookie: vbp_sid=\@SID3\@"]
--- request eval
["POST /api/regions/create
{\"code\":\"210400\",\"name\":\"抚顺市\"}",
"POST /api/regions/create
{\"code\":\"210400\",\"name\":\"抚顺市\"}",
"POST /api/regions/create
{\"code\":\"340500\",\"name\":\"马鞍山市\"}",
"POST /api/regions/create
{\"code\":\"210500\",\"name\":\"本溪市\"}",
"GET /api/orgs?kind=city_bureau&region=210400"]
--- error_code eval
[201, 409, 422, 403, 200]
--- response_body_like eval
['"code":"210400"', '"fields":\{"code":"区划编码已存在"\}', '"fields":\{"code":"市级区划编码应为本省的地级编码：本省编码前两位 \\+ 01 到 90 \\+ 00（如 210100）；省本级随省创建"\}', '"forbidden"', '"code":"YB210400","name":"抚顺市医疗保障局","kind":"city_bureau"']



=== TEST 24: the alliance adds a province with its 省本级; then creates the province's admin
--- more_headers eval
["Cookie: vbp_sid=\@SID4\@\nX-CSRF-Token: \@CSRF4\@\nContent-Type: application/json",
"Cookie: vbp_sid=\@SID4\@",
"Cookie: vbp_sid=\@SID4\@\nX-CSRF-Token: \@CSRF4\@\nContent-Type: application/json"]
--- request eval
["POST /api/regions/create
{\"code\":\"220000\",\"name\":\"吉林省\"}",
"GET /api/regions",
"POST /api/users/create
{\"username\":\"t20_jl_admin\",\"display_name\":\"吉林省医保局管理员\",\"region_code\":\"220000\"}"]
--- error_code eval
[201, 200, 201]
--- response_body_like eval
['"code":"220000"', '\{"code":"220000","name":"吉林省","level":"province".*\{"code":"229900","name":"吉林省本级","level":"city","provincial":true,"parent_code":"220000"', '"username":"t20_jl_admin"']



=== TEST 25: the audit log: every account action, scoped (another city sees none of it)
--- more_headers eval
["Cookie: vbp_sid=\@SID\@", "Cookie: vbp_sid=\@SID\@", "Cookie: vbp_sid=\@SID5\@", "Cookie: vbp_sid=\@SID\@"]
--- request eval
["GET /api/audit?q=t20_sy01&per_page=50", "GET /api/audit?action=user_disabled&per_page=10", "GET /api/audit?q=t20_sy01", "GET /api/audit?from=2026-13-01"]
--- error_code eval
[200, 200, 200, 422]
--- response_body_like eval
['"action":"password_reset".*"action":"user_changed".*"action":"user_created"', '"action":"user_disabled","target_type":"user","target_id":"@H11@","from":"active","to":"disabled"', '"total":0', '"from":"没有这一天，请检查日期"']



=== TEST 26: pages: the user list, in Chinese, with search, paging and batch actions
--- more_headers
Cookie: vbp_sid=@SID@
--- request
GET /users?per_page=10
--- response_body_like chomp
<h1>用户管理</h1>.*name="q".*<table class="list" id="users">.*name="ids".*id="batch-disable".*总共 <b id="total">\d+</b> 条
--- no_error_log
[error]



=== TEST 27: a province renames its city; a city renames nothing; another province's city is not there
--- more_headers eval
["Cookie: vbp_sid=\@SID3\@\nX-CSRF-Token: \@CSRF3\@\nContent-Type: application/json",
"Cookie: vbp_sid=\@SID\@\nX-CSRF-Token: \@CSRF\@\nContent-Type: application/json",
"Cookie: vbp_sid=\@SID3\@\nX-CSRF-Token: \@CSRF3\@\nContent-Type: application/json",
"Cookie: vbp_sid=\@SID3\@\nX-CSRF-Token: \@CSRF3\@\nContent-Type: application/json",
"Cookie: vbp_sid=\@SID3\@"]
--- request eval
["POST /api/regions/rename
{\"code\":\"210400\",\"name\":\"抚顺\"}",
"POST /api/regions/rename
{\"code\":\"210100\",\"name\":\"沈阳\"}",
"POST /api/regions/rename
{\"code\":\"340100\",\"name\":\"合肥\"}",
"POST /api/regions/rename
{\"code\":\"210000\",\"name\":\"辽宁\"}",
"GET /api/audit?action=region_renamed"]
--- error_code eval
[200, 403, 404, 404, 200]
--- response_body_like eval
['"name":"抚顺"', '"forbidden"', '"not_found"', '"not_found"', '"action":"region_renamed","target_type":"region","target_id":"210400","from":"抚顺市","to":"抚顺"']



=== TEST 28: usernames are one whatever their case
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Content-Type: application/json
--- request
POST /api/users/create
{"username":"T20_SY01","display_name":"大小写","org_code":"T20H002"}
--- error_code: 409
--- response_body
{"error":{"code":"conflict","message":"用户名已存在（用户名全平台唯一），请换一个","fields":{"username":"用户名已存在（用户名全平台唯一），请换一个"}}}
