# Sign-in (seeds 001, 004): the login page, the image captcha, good and bad
# sign-ins (all bad ones give the same answer, with the attempts left),
# captcha reuse and expiry, the lock after 5 failures -- of the failing
# client only -- and its end or lifting by a manager, per-IP throttling of
# failures (never of successes), and wrong old passwords counted the same.

use lib 't/lib';
use VBP::Test;
use Test::Nginx::Socket 'no_plan';

vbp_blocks();
no_shuffle();
my $t0 = vbp_sql("SELECT now()");
run_tests();

# every attempt left an audit record
is(vbp_sql("SELECT count(*) > 0 FROM audit_log WHERE action = 'login'"
           . " AND target_id = 'H21010200011'"), 't', 'sign-in audited');
is(vbp_sql("SELECT count(*) > 0 FROM audit_log WHERE action = 'login_failed'"
           . " AND target_id = 'nosuchuser'"), 't', 'failed sign-in audited');

# what the blocks above did, in the database (a dry run does none of it)
unless ($ENV{TEST_NGINX_CHECK_LEAK} || $ENV{TEST_NGINX_BENCHMARK}) {
    is(vbp_sql("SELECT count(*) FROM audit_log WHERE action = 'user_unlocked'"
               . " AND actor_name = 'as_admin' AND detail->>'username' = 'H21030200013' AND at >= '$t0'"),
       1, 'the lifted lock is audited, with who lifted it');
    is(vbp_sql("SELECT count(*) FROM audit_log WHERE action = 'password_change_failed'"
               . " AND actor_name = 'H21030300035' AND host(ip) = '10.0.0.99' AND at >= '$t0'"),
       5, 'every wrong old password is audited, with the client');
    is(vbp_sql("SELECT count(*) FROM audit_log WHERE action = 'password_change_locked'"
               . " AND actor_name = 'H21030300035' AND at >= '$t0'"), 1, '... and the attempt while locked');
    my $a = vbp_frame({ op => 'auth.login', ip => '10.0.0.5', captcha_ok => JSON::PP::true,
                        args => { username => 'H21030300035', password => 'Demo@Pass1234' } });
    is($a->{status}, 200, 'the locked password change changed nothing');
}

__DATA__

=== TEST 1: the login page, in Chinese, with the captcha and security headers
--- request
GET /login
--- response_body_like chomp
用户登录.*name="username".*name="password".*name="captcha".*src="/captcha"
--- response_headers_like
Content-Type: text/html; charset=utf-8
Content-Security-Policy: default-src 'self'.*
X-Frame-Options: DENY
Cache-Control: no-store
--- no_error_log
[error]



=== TEST 2: a captcha is a PNG drawn by the server, its id in an HttpOnly cookie
--- request
GET /captcha-test
--- response_headers_like
Content-Type: image/png
Set-Cookie: vbp_cap=[A-Za-z0-9_-]{22}; Path=/; HttpOnly; SameSite=Lax; Max-Age=300
X-Captcha-Answer: [2-9A-HJ-NP-Z]{4}
--- response_body_like: ^\x89PNG\r\n\x1a\n
--- no_error_log
[error]



=== TEST 3: the answer is never exposed unless the test directive asks for it
--- request
GET /captcha
--- response_headers
!X-Captcha-Answer
--- error_code: 200



=== TEST 4: good sign-in from the page: a new session cookie, then home
--- setup
user H21010200011 password=Demo@Pass1234 must_change=0
captcha
--- more_headers
Cookie: vbp_cap=@CAPID@
--- request
POST /login
username=H21010200011&password=Demo%40Pass1234&captcha=@CAP@
--- error_code: 303
--- response_headers_like
Location: .*/$
Set-Cookie: vbp_sid=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Lax
--- no_error_log
[error]



=== TEST 5: the captcha is not case-sensitive
--- setup
captcha
--- more_headers
Cookie: vbp_cap=@CAPID@
--- request
POST /login
username=H21010200011&password=Demo%40Pass1234&captcha=@cap@
--- error_code: 303



=== TEST 6: good sign-in through the JSON API
--- setup
captcha
--- more_headers
Cookie: vbp_cap=@CAPID@
Content-Type: application/json
--- request
POST /api/login
{"username":"H21010200011","password":"Demo@Pass1234","captcha":"@CAP@"}
--- error_code: 200
--- response_body_like chomp
"username":"H21010200011".*"org_name":"中国医科大学附属第一医院".*"must_change_password":false
--- response_headers_like
Set-Cookie: vbp_sid=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Lax
Content-Type: application/json



=== TEST 7: wrong password: the common message, on the page
--- setup
captcha
--- more_headers
Cookie: vbp_cap=@CAPID@
--- request
POST /login
username=H21010200011&password=Wrong%40Pass1234&captcha=@CAP@
--- error_code: 401
--- response_body_like chomp
<p class="error" id="error" role="alert">用户名、密码或验证码错误，还可尝试 4 次</p>.*value="H21010200011"
--- response_headers
!Set-Cookie



=== TEST 8: unknown user: the same answer
--- setup
sql DELETE FROM login_locks WHERE username = 'nosuchuser'
captcha
--- more_headers
Cookie: vbp_cap=@CAPID@
Content-Type: application/json
--- request
POST /api/login
{"username":"nosuchuser","password":"Demo@Pass1234","captcha":"@CAP@"}
--- error_code: 401
--- response_body
{"error":{"code":"login_failed","message":"用户名、密码或验证码错误，还可尝试 4 次","fields":{},"attempts_left":4}}



=== TEST 9: a disabled account says so after its right password (the wrong one: the last block)
--- setup
user H21010200022 password=Demo@Pass1234 must_change=0 status=disabled
captcha
--- more_headers
Cookie: vbp_cap=@CAPID@
Content-Type: application/json
--- request
POST /api/login
{"username":"H21010200022","password":"Demo@Pass1234","captcha":"@CAP@"}
--- error_code: 403
--- response_body
{"error":{"code":"account_disabled","message":"账号已停用，请联系您的管理单位启用","fields":{}}}



=== TEST 10: wrong captcha with the right password: the same answer
--- setup
captcha
--- more_headers
Cookie: vbp_cap=@CAPID@
Content-Type: application/json
--- request
POST /api/login
{"username":"H21010200011","password":"Demo@Pass1234","captcha":"2222"}
--- error_code: 401
--- response_body
{"error":{"code":"login_failed","message":"用户名、密码或验证码错误，还可尝试 4 次","fields":{},"attempts_left":4}}



=== TEST 11: no captcha cookie at all: the same answer
--- more_headers
Content-Type: application/json
--- request
POST /api/login
{"username":"H21010200011","password":"Demo@Pass1234","captcha":"ABCD"}
--- error_code: 401
--- response_body_like: "code":"login_failed"



=== TEST 12: a captcha works once: the second use fails
--- setup
captcha
--- more_headers eval
["Cookie: vbp_cap=\@CAPID\@\nContent-Type: application/json",
 "Cookie: vbp_cap=\@CAPID\@\nContent-Type: application/json"]
--- request eval
["POST /api/login\n{\"username\":\"H21010200011\",\"password\":\"Demo\@Pass1234\",\"captcha\":\"\@CAP\@\"}",
 "POST /api/login\n{\"username\":\"H21010200011\",\"password\":\"Demo\@Pass1234\",\"captcha\":\"\@CAP\@\"}"]
--- error_code eval
[200, 401]
--- response_body_like eval
['"must_change_password":false', '"code":"login_failed"']



=== TEST 13: an expired captcha fails
--- setup
captcha 1 ttl=1
sleep 1.5
--- more_headers
Cookie: vbp_cap=@CAPID@
Content-Type: application/json
--- request
POST /api/login
{"username":"H21010200011","password":"Demo@Pass1234","captcha":"@CAP@"}
--- error_code: 401



=== TEST 14: missing fields: 422 with a message per field
--- setup
captcha
--- more_headers
Cookie: vbp_cap=@CAPID@
Content-Type: application/json
--- request
POST /api/login
{"captcha":"@CAP@"}
--- error_code: 422
--- response_body
{"error":{"code":"invalid","message":"填写的内容有误，请按各项下方的提示修改","fields":{"username":"请输入用户名","password":"请输入密码"}}}



=== TEST 15: wrong types and malformed JSON: 4xx, never a 500
--- more_headers eval
["Content-Type: application/json", "Content-Type: application/json",
 "Content-Type: application/json", "Content-Type: text/xml"]
--- request eval
["POST /api/login\n{\"username\":", "POST /api/login\n[1,2]",
 "POST /api/login\n{\"username\":5,\"password\":[],\"captcha\":\"x\"}",
 "POST /api/login\n<a/>"]
--- error_code eval
[400, 400, 422, 400]
--- response_body_like eval
['"code":"bad_request"', '"code":"bad_request"', '"fields":\{"username":"应为文本","password":"应为文本"\}', '"code":"bad_request"']
--- no_error_log
[alert]



=== TEST 16: five failures lock the account: the right password is refused
--- setup
user H21010300033 password=Demo@Pass1234 must_change=0
captcha 6
--- more_headers eval
[map { "Cookie: vbp_cap=\@CAPID$_\@\nContent-Type: application/json" } 1 .. 6]
--- request eval
[(map { "POST /api/login\n{\"username\":\"H21010300033\",\"password\":\"Bad\@Pass12345\",\"captcha\":\"\@CAP$_\@\"}" } 1 .. 5),
 "POST /api/login\n{\"username\":\"H21010300033\",\"password\":\"Demo\@Pass1234\",\"captcha\":\"\@CAP6\@\"}"]
--- error_code eval
[401, 401, 401, 401, 401, 423]
--- response_body_like eval
[(map { '"code":"login_failed","message":"用户名、密码或验证码错误' . (5 - $_ ? "，还可尝试 " . (5 - $_) . ' 次"' : '。失败次数过多') } 1 .. 5), '"code":"locked","message":"登录失败次数过多，该账户在本机已锁定，\d\d:\d\d 解锁，或请管理单位解锁","fields":\{\},"attempts_left":0']



=== TEST 17: the lock ends after 15 minutes
--- setup
sql UPDATE login_locks SET locked_until = now() - interval '1 second', window_start = now() - interval '16 minutes' WHERE username = 'H21010300033'
captcha
--- more_headers
Cookie: vbp_cap=@CAPID@
Content-Type: application/json
--- request
POST /api/login
{"username":"H21010300033","password":"Demo@Pass1234","captcha":"@CAP@"}
--- error_code: 200



=== TEST 18: unknown usernames lock the same way (no user enumeration)
--- setup
sql DELETE FROM login_locks WHERE username = 'ghostuser'
captcha 6
--- more_headers eval
[map { "Cookie: vbp_cap=\@CAPID$_\@\nContent-Type: application/json" } 1 .. 6]
--- request eval
[map { "POST /api/login\n{\"username\":\"ghostuser\",\"password\":\"Bad\@Pass12345\",\"captcha\":\"\@CAP$_\@\"}" } 1 .. 6]
--- error_code eval
[401, 401, 401, 401, 401, 423]



=== TEST 19: per-IP throttling of sign-in attempts
--- setup
redis DEL vbp:thr:127.0.0.1
--- config
    vbp_worker_pass vbp_workers;
    vbp_login_throttle 3 1m;
    include $TEST_NGINX_VBP_TOP/conf/vbp-routes.conf;
--- more_headers
Content-Type: application/json
--- request eval
[("POST /api/login\n{\"username\":\"x\",\"password\":\"y\",\"captcha\":\"z\"}") x 4]
--- error_code eval
[401, 401, 401, 429]
--- response_body_like eval
[('"code":"login_failed"') x 3, '"code":"throttled","message":"登录尝试过于频繁，请稍后再试"']



=== TEST 20: five failures from one client lock the username for that client
--- setup
sql DELETE FROM login_locks
user H21030200013 password=Demo@Pass1234 must_change=0
captcha 6
--- more_headers eval
[map { "Cookie: vbp_cap=\@CAPID$_\@\nContent-Type: application/json\nX-Forwarded-For: 10.0.0.66" } 1 .. 6]
--- request eval
[(map { "POST /api/login\n{\"username\":\"H21030200013\",\"password\":\"Bad\@Pass12345\",\"captcha\":\"\@CAP$_\@\"}" } 1 .. 5),
 "POST /api/login\n{\"username\":\"H21030200013\",\"password\":\"Demo\@Pass1234\",\"captcha\":\"\@CAP6\@\"}"]
--- error_code eval
[401, 401, 401, 401, 401, 423]
--- response_body_like eval
['"attempts_left":4', '"attempts_left":3', '"attempts_left":2', '"attempts_left":1', '"attempts_left":0', '"code":"locked"']



=== TEST 21: ... the owner at another desk still signs in (the attacker hurts only itself)
--- setup
captcha
--- more_headers
Cookie: vbp_cap=@CAPID@
Content-Type: application/json
X-Forwarded-For: 10.0.0.77
--- request
POST /api/login
{"username":"H21030200013","password":"Demo@Pass1234","captcha":"@CAP@"}
--- error_code: 200
--- response_body_like: "username":"H21030200013"



=== TEST 22: ... and its manager sees it locked in the list
--- setup
user as_admin password=Demo@Pass1234 must_change=0
login as_admin Demo@Pass1234
--- more_headers
Cookie: vbp_sid=@SID@
--- request
GET /api/users?status=locked
--- error_code: 200
--- response_body_like: ^\{"items":\[\{"id":\d+,"username":"H21030200013".*"locked":true,"manageable":true,"pending_password":false,"seq":1\}\],"total":1,



=== TEST 23: ... lifts the lock (解锁), which is audited
--- setup
token UID SELECT id FROM users WHERE username = 'H21030200013'
--- more_headers
Cookie: vbp_sid=@SID@
X-CSRF-Token: @CSRF@
Content-Type: application/json
--- request
POST /api/users/unlock
{"id":@UID@}
--- error_code: 200
--- response_body_like: "unlocked":1.*"message":"已解锁"



=== TEST 24: ... and the locked client signs in again
--- setup
captcha
--- more_headers
Cookie: vbp_cap=@CAPID@
Content-Type: application/json
X-Forwarded-For: 10.0.0.66
--- request
POST /api/login
{"username":"H21030200013","password":"Demo@Pass1234","captcha":"@CAP@"}
--- error_code: 200



=== TEST 25: the throttle counts failures, never successes: a NAT of hospitals signs in freely
--- setup
redis DEL vbp:thr:10.0.0.88
user H21030300024 password=Demo@Pass1234 must_change=0
captcha 8
--- config
    vbp_worker_pass vbp_workers;
    vbp_hash_pass vbp_hashers;
    vbp_login_throttle 3 1m;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    include $TEST_NGINX_VBP_TOP/conf/vbp-routes.conf;
--- more_headers eval
[map { "Cookie: vbp_cap=\@CAPID$_\@\nContent-Type: application/json\nX-Forwarded-For: 10.0.0.88" } 1 .. 8]
--- request eval
[(map { "POST /api/login\n{\"username\":\"H21030300024\",\"password\":\"Demo\@Pass1234\",\"captcha\":\"\@CAP$_\@\"}" } 1 .. 4),
 (map { "POST /api/login\n{\"username\":\"nobody$_\",\"password\":\"Demo\@Pass1234\",\"captcha\":\"\@CAP$_\@\"}" } 5 .. 8)]
--- error_code eval
[200, 200, 200, 200, 401, 401, 401, 429]



=== TEST 26: wrong old passwords are counted like failed sign-ins, audited, and lock
--- setup
user H21030300035 password=Demo@Pass1234 must_change=0
login H21030300035 Demo@Pass1234 as=pw
--- more_headers eval
[map { "Cookie: vbp_sid=\@SID_pw\@\nX-CSRF-Token: \@CSRF_pw\@\nContent-Type: application/json\nX-Forwarded-For: 10.0.0.99" } 1 .. 6]
--- request eval
[(map { "POST /api/password\n{\"old_password\":\"Wrong\@Pass$_$_$_\",\"new_password\":\"Next\@Pass98765\",\"confirm_password\":\"Next\@Pass98765\"}" } 1 .. 5),
 "POST /api/password\n{\"old_password\":\"Demo\@Pass1234\",\"new_password\":\"Next\@Pass98765\",\"confirm_password\":\"Next\@Pass98765\"}"]
--- error_code eval
[422, 422, 422, 422, 423, 423]
--- response_body_like eval
['"old_password":"原密码不正确，还可尝试 4 次"', '还可尝试 3 次', '还可尝试 2 次', '还可尝试 1 次',
 '"code":"locked".*"old_password":"原密码错误次数过多', '"code":"locked"']



=== TEST 27: a disabled account with a wrong password gets the one answer of every failure
--- setup
user H21010200022 password=Demo@Pass1234 must_change=0 status=disabled
captcha
--- more_headers
Cookie: vbp_cap=@CAPID@
Content-Type: application/json
X-Forwarded-For: 10.33.0.9
--- request
POST /api/login
{"username":"H21010200022","password":"Wrong@Pass1234","captcha":"@CAP@"}
--- error_code: 401
--- response_body
{"error":{"code":"login_failed","message":"用户名、密码或验证码错误，还可尝试 4 次","fields":{},"attempts_left":4}}
