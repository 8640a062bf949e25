# Sessions: the forced password change and its policy, sign-out, the idle
# timeout (sliding), CSRF on unsafe methods, pages that redirect and an API
# that answers 401, permissions checked on the server, a new session id at
# every sign-in.

use lib 't/lib';
use VBP::Test;
use Test::Nginx::Socket 'no_plan';

vbp_blocks();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: signed out, a page redirects to the login page
--- request
GET /
--- error_code: 302
--- response_headers_like
Location: .*/login$



=== TEST 2: signed out, the API answers 401 in JSON
--- request
GET /api/me
--- error_code: 401
--- response_body
{"error":{"code":"unauthenticated","message":"未登录或登录已超时，请重新登录"}}



=== TEST 3: a cookie that is not a session is the same as none
--- more_headers
Cookie: vbp_sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- request
GET /api/me
--- error_code: 401



=== TEST 4: GET /api/me: user, org, role, region and permissions
--- setup
user sy_admin password=Demo@Pass1234 must_change=0
login sy_admin Demo@Pass1234
--- more_headers
Cookie: vbp_sid=@SID@
--- request
GET /api/me
--- response_body_like chomp
^\{"uid":\d+,"username":"sy_admin","name":"沈阳市医保局管理员","main_account":true,"org_id":\d+,"org_code":"YB210100","org_name":"沈阳市医疗保障局","role":"city_bureau","region":\{"id":\d+,"code":"210100","name":"沈阳市","level":"city","path":"/\d+/\d+/\d+/"\},"permissions":\["home","report","report.review","report.progress","notice","notice.publish","admin","admin.users","admin.orgs","admin.audit","account","account.password","org.view","account.subusers"\],"must_change_password":false,"csrf":"[A-Za-z0-9_-]{32}"\}$
--- no_error_log
[error]



=== TEST 5: the home page of the role: its menu and the org name
--- setup
login sy_admin Demo@Pass1234
--- more_headers
Cookie: vbp_sid=@SID@
--- request
GET /
--- response_body_like chomp
<span class="org" id="header-org">沈阳市医疗保障局</span>\s*<span class="name" id="header-user">主账号（sy_admin）</span>.*<a href="/" class="current" aria-current="page">首页</a>.*<span class="group-title">用户管理</span>\s*<ul><li><a href="/users">用户管理</a></li><li><a href="/subusers">子用户管理</a></li></ul>.*<span class="group-title">机构管理</span>\s*<ul><li><a href="/orgs">机构管理</a></li><li><a href="/orgs/import">导入机构</a></li><li><a href="/regions">区划管理</a></li></ul>.*<span class="group-title">系统管理</span>\s*<ul><li><a href="/audit">操作日志</a></li><li><a href="/password">密码修改</a></li></ul>.*<h1 id="role-title">市级医保局工作台</h1>
--- no_error_log
[error]



=== TEST 6: first sign-in: every page leads to the password change first
--- setup
user H21020200012 password=Demo@Pass1234 must_change=1
login H21020200012 Demo@Pass1234
--- more_headers eval
["Cookie: vbp_sid=\@SID\@", "Cookie: vbp_sid=\@SID\@", "Cookie: vbp_sid=\@SID\@", "Cookie: vbp_sid=\@SID\@"]
--- request eval
["GET /", "GET /api/home", "GET /password", "GET /api/me"]
--- error_code eval
[302, 403, 200, 200]
--- response_body_like eval
["", '"code":"password_change_required"', '首次登录或密码重置后，须先修改密码', '"must_change_password":true']



=== TEST 7: the password policy, field by field
--- setup
login H21020200012 Demo@Pass1234
--- more_headers eval
[("Cookie: vbp_sid=\@SID\@\nX-CSRF-Token: \@CSRF\@\nContent-Type: application/json") x 6]
--- request eval
["POST /api/password\n{\"old_password\":\"Demo\@Pass1234\",\"new_password\":\"Ab1!short\",\"confirm_password\":\"Ab1!short\"}",
 "POST /api/password\n{\"old_password\":\"Demo\@Pass1234\",\"new_password\":\"abcdefghij12\",\"confirm_password\":\"abcdefghij12\"}",
 "POST /api/password\n{\"old_password\":\"Demo\@Pass1234\",\"new_password\":\"Demo\@Pass1234\",\"confirm_password\":\"Demo\@Pass1234\"}",
 "POST /api/password\n{\"old_password\":\"Demo\@Pass1234\",\"new_password\":\"New\@Pass12345\",\"confirm_password\":\"New\@Pass12346\"}",
 "POST /api/password\n{\"old_password\":\"Wrong\@Pass1234\",\"new_password\":\"New\@Pass12345\",\"confirm_password\":\"New\@Pass12345\"}",
 "POST /api/password\n{\"new_password\":\"New\@Pass12345\"}"]
--- error_code eval
[422, 422, 422, 422, 422, 422]
--- response_body_like eval
['"new_password":"密码长度不能少于10位"',
 '"new_password":"密码须包含大写字母、小写字母、数字、特殊字符中的至少三种"',
 '"new_password":"新密码不能与原密码相同"',
 '"confirm_password":"两次输入的新密码不一致"',
 '"old_password":"原密码不正确，还可尝试 \\d 次"',
 '"fields":\{"old_password":"请输入原密码","confirm_password":"请再次输入新密码"\}']



=== TEST 8: a good change ends the session: sign in again
--- setup
login H21020200012 Demo@Pass1234
--- more_headers eval
["Cookie: vbp_sid=\@SID\@\nX-CSRF-Token: \@CSRF\@\nContent-Type: application/json", "Cookie: vbp_sid=\@SID\@"]
--- request eval
["POST /api/password\n{\"old_password\":\"Demo\@Pass1234\",\"new_password\":\"New\@Pass12345\",\"confirm_password\":\"New\@Pass12345\"}",
 "GET /api/me"]
--- error_code eval
[200, 401]
--- response_body_like eval
['"message":"密码已修改，请重新登录"', '"code":"unauthenticated"']
--- response_headers_like eval
["Set-Cookie: vbp_sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0", ""]



=== TEST 9: after the change, no forced change: home is reachable
--- setup
login H21020200012 New@Pass12345
--- more_headers
Cookie: vbp_sid=@SID@
--- request
GET /
--- error_code: 200
--- response_body_like: 大连医科大学附属第一医院



=== TEST 10: the password form works from the page too (and redirects to sign-in)
--- setup
user H21020200012 password=Demo@Pass1234 must_change=1
login H21020200012 Demo@Pass1234
--- more_headers
Cookie: vbp_sid=@SID@
--- request
POST /password
_csrf=@CSRF@&old_password=Demo%40Pass1234&new_password=Page%40Pass12345&confirm_password=Page%40Pass12345
--- error_code: 303
--- response_headers_like
Location: .*/login\?changed=1$



=== TEST 11: an unsafe request without the CSRF token is refused and changes nothing
--- setup
user H21020200012 password=Demo@Pass1234 must_change=1
login H21020200012 Demo@Pass1234
--- more_headers eval
["Cookie: vbp_sid=\@SID\@\nContent-Type: application/json",
 "Cookie: vbp_sid=\@SID\@\nX-CSRF-Token: wrongwrongwrongwrongwrongwrongwr\nContent-Type: application/json",
 "Cookie: vbp_sid=\@SID\@"]
--- request eval
["POST /api/password\n{\"old_password\":\"Demo\@Pass1234\",\"new_password\":\"Csrf\@Pass12345\",\"confirm_password\":\"Csrf\@Pass12345\"}",
 "POST /api/password\n{\"old_password\":\"Demo\@Pass1234\",\"new_password\":\"Csrf\@Pass12345\",\"confirm_password\":\"Csrf\@Pass12345\"}",
 "GET /api/me"]
--- error_code eval
[403, 403, 200]
--- response_body_like eval
['"code":"csrf"', '"code":"csrf"', '"must_change_password":true']



=== TEST 12: a request from a foreign origin is refused
--- setup
login sy_admin Demo@Pass1234
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Origin: http://evil.example
--- request
POST /api/logout
--- error_code: 403
--- response_body_like: "code":"csrf"



=== TEST 13: sign-out ends the session at once
--- setup
login sy_admin Demo@Pass1234
--- more_headers eval
["Cookie: vbp_sid=\@SID\@", "Cookie: vbp_sid=\@SID\@"]
--- request eval
["POST /logout\n_csrf=\@CSRF\@", "GET /api/me"]
--- error_code eval
[303, 401]
--- response_headers_like eval
["Location: .*/login\nSet-Cookie: vbp_sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0", ""]



=== TEST 14: the idle timeout: an unused session expires
--- setup
login sy_admin Demo@Pass1234 ttl=1
sleep 2
--- more_headers
Cookie: vbp_sid=@SID@
--- request
GET /api/me
--- error_code: 401



=== TEST 15: the idle timeout slides: a request renews it ...
--- setup
login sy_admin Demo@Pass1234 ttl=2
--- http_config
    upstream vbp_workers {
        server $TEST_NGINX_VBP_WORKER;
    }
    upstream vbp_readers {
        server $TEST_NGINX_VBP_READER;
    }
    upstream vbp_hashers {
        server $TEST_NGINX_VBP_HASHER;
    }
    vbp_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    vbp_templates $TEST_NGINX_VBP_TOP/lua-free-templates;
    vbp_session_timeout @SECONDS:6@s;
--- more_headers
Cookie: vbp_sid=@SID@
--- request
GET /api/me
--- error_code: 200



=== TEST 16: ... so it is alive after its first 2 seconds have passed ...
--- setup
sleep 3
--- http_config
    upstream vbp_workers {
        server $TEST_NGINX_VBP_WORKER;
    }
    upstream vbp_readers {
        server $TEST_NGINX_VBP_READER;
    }
    upstream vbp_hashers {
        server $TEST_NGINX_VBP_HASHER;
    }
    vbp_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    vbp_templates $TEST_NGINX_VBP_TOP/lua-free-templates;
    vbp_session_timeout @SECONDS:6@s;
--- more_headers
Cookie: vbp_sid=@SID@
--- request
GET /api/me
--- error_code: 200



=== TEST 17: ... and gone once it idled for longer than the timeout
--- setup
sleep 6.5
--- more_headers
Cookie: vbp_sid=@SID@
--- request
GET /api/me
--- error_code: 401



=== TEST 18: a permission the user lacks: 403 from the server, nothing runs
--- setup
login sy_admin Demo@Pass1234
--- config
    vbp_worker_pass vbp_workers;
    location = /api/secret {
        vbp_op org.self GET;
        vbp_permission users.manage;
    }
--- more_headers
Cookie: vbp_sid=@SID@
--- request
GET /api/secret
--- error_code: 403
--- response_body
{"error":{"code":"forbidden","message":"没有该操作的权限"}}



=== TEST 19: every sign-in gets a new session id; the old one ends
--- setup
login sy_admin Demo@Pass1234
captcha
--- more_headers eval
["Cookie: vbp_sid=\@SID\@; vbp_cap=\@CAPID\@\nContent-Type: application/json", "Cookie: vbp_sid=\@SID\@"]
--- request eval
["POST /api/login\n{\"username\":\"sy_admin\",\"password\":\"Demo\@Pass1234\",\"captcha\":\"\@CAP\@\"}", "GET /api/me"]
--- error_code eval
[200, 401]
--- response_headers_like eval
["Set-Cookie: vbp_sid=(?!\@SID\@)[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Lax", ""]



=== TEST 20: methods a location does not serve: 405
--- request eval
["DELETE /login", "PUT /captcha"]
--- error_code eval
[405, 405]
