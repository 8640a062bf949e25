# nginx's own errors answered in the platform's format (issue 8): every
# answer under /api/ is the JSON error format, every page error the
# platform's error page, and the 413 names the limit of the location that
# refused the body.

use lib 't/lib';
use VBP::Test;
use Test::Nginx::Socket 'no_plan';

vbp_blocks();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: an unknown API path: 404 in JSON
--- request
GET /api/no/such/thing
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body
{"error":{"code":"not_found","message":"页面或接口不存在"}}



=== TEST 2: an unknown page: 404, the platform's page in Chinese
--- request
GET /no/such/page
--- error_code: 404
--- response_headers_like
Content-Type: text/html; charset=utf-8
--- response_body_like chomp
<html lang="zh-CN">.*页面或接口不存在



=== TEST 3: a method a page does not take (GET /logout): 405, the platform's page
--- setup
user sy_admin password=Demo@Pass1234 must_change=0
login sy_admin Demo@Pass1234
--- more_headers
Cookie: vbp_sid=@SID@
--- request
GET /logout
--- error_code: 405
--- response_headers_like
Content-Type: text/html; charset=utf-8
--- response_body_like chomp
<html lang="zh-CN">.*不支持该请求方法



=== TEST 4: a method an API location does not take: 405 in JSON
--- more_headers
Cookie: vbp_sid=@SID@
--- request
DELETE /api/users
--- error_code: 405
--- response_body
{"error":{"code":"method_not_allowed","message":"不支持该请求方法"}}



=== TEST 5: a request nginx cannot parse (a header without a colon): 400 in JSON
--- raw_request eval
"GET /api/me HTTP/1.1\r\nHost: localhost\r\nBroken header line\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body
{"error":{"code":"bad_request","message":"请求格式错误"}}



=== TEST 6: a URI longer than nginx takes: 414 in JSON
--- raw_request eval
"GET /api/me?" . ("x" x 9000) . " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 414
--- response_body
{"error":{"code":"uri_too_long","message":"请求地址过长"}}



=== TEST 7: a body over a 1 MB route's limit: 413 that says 1MB, on the file field
--- config
    vbp_worker_pass vbp_workers;
    vbp_hash_pass vbp_hashers;
    include $TEST_NGINX_VBP_TOP/conf/vbp-routes.conf;
    location = /api/one-mb {
        vbp_login on;
        vbp_op auth.login POST;
        client_max_body_size 1m;
    }
--- more_headers
Content-Type: application/json
--- request eval
"POST /api/one-mb\n" . ("x" x (1024 * 1024 + 10))
--- error_code: 413
--- response_body
{"error":{"code":"too_large","message":"文件过大：一次最多上传 1MB","fields":{"file":"文件过大：一次最多上传 1MB"}}}



=== TEST 8: a route's own limit is the one it names
--- config
    vbp_worker_pass vbp_workers;
    vbp_hash_pass vbp_hashers;
    client_body_temp_path $TEST_NGINX_UPLOAD_DIR;
    include $TEST_NGINX_VBP_TOP/conf/vbp-routes.conf;
    location = /api/small-import {
        vbp_op orgs.import POST;
        vbp_upload on;
        client_max_body_size 2k;
    }
--- more_headers
Content-Type: text/csv
--- request eval
"POST /api/small-import?kind=hospital\n" . ("x" x 4096)
--- error_code: 413
--- response_body_like chomp
"message":"文件过大：一次最多上传 2KB"



=== TEST 9: an internal error location cannot be reached from outside
--- request
GET /.vbp/too-large?limit=%E6%81%B6%E6%84%8F
--- error_code: 404
--- response_body_like chomp
^<!DOCTYPE html>.*页面或接口不存在
--- response_body_unlike
恶意
