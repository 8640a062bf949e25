# Self-test of the Test::Nginx::Socket runner.
#
# Uses only stock nginx directives so that it passes both under CPAN's
# Test::Nginx::Socket and under the fallback in t/lib/fallback:
#
#   prove -I t/lib/fallback t/000-runner.t     # fallback
#   prove t/000-runner.t                       # real Test::Nginx, if installed

use Test::Nginx::Socket;

repeat_each(2);
master_on();
log_level('debug');

# Assertions per block and per repetition, counted the way Test::Nginx
# does: 1 status check per request (error_code, or 200 by default), 1 per
# header in response_headers(_like), 1 per raw_response_headers_like, 1 per
# request for the body section, and 1 per error_log/no_error_log pattern for
# every request of the block; a must_die block has 1 for the exit plus its
# error_log/no_error_log patterns.
plan tests => repeat_each() * (
      6     # TEST 1
    + 2     # TEST 2
    + 12    # TEST 3: 3 requests x (status + body) + 2 no_error_log x 3
    + 5     # TEST 4
    + 4     # TEST 5
    + 2     # TEST 6
    + 6     # TEST 7
    + 3     # TEST 8
    + 3     # TEST 9
    + 6     # TEST 10: 2 pipelined x (status + body) + 1 no_error_log x 2
    + 3     # TEST 11
    + 3     # TEST 12
    + 1     # TEST 13
    + 3     # TEST 14 (HEAD)
    + 2     # TEST 16 (TEST 15 is SKIPped)
);

run_tests();

__DATA__

=== TEST 1: main_config, http_config, config, more_headers, response_headers
--- main_config
worker_rlimit_nofile 512;
--- http_config
    map $http_x_who $greeting {
        default  "hello";
        bob      "hi bob";
    }
--- config
    location = /t {
        add_header X-Runner yes;
        return 200 "$greeting\n";
    }
--- more_headers
X-Who: bob
--- request
GET /t
--- error_code: 200
--- response_headers
X-Runner: yes
Content-Type: text/plain
!X-Missing
--- response_body
hi bob
--- no_error_log
[error]



=== TEST 2: POST body gets a Content-Length; $TEST_NGINX_ variables in config
--- config
    location = /echo {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sink;
        proxy_set_header X-Body $request_body;
    }
    location = /sink {
        return 200 "len=$http_content_length body=$http_x_body\n";
    }
--- request
POST /echo
hello world
--- response_body
len=11 body=hello world



=== TEST 3: request eval array, more_headers/error_code/body eval arrays
--- config
    location /echo_hdr/ {
        return 200 "$uri:$http_x_n\n";
    }
    location = /missing {
        return 404;
    }
--- request eval
["GET /echo_hdr/a", "GET /echo_hdr/b", "GET /missing"]
--- more_headers eval
["X-N: 1", "X-N: 2", "X-N: 3"]
--- error_code eval
[200, 200, 404]
--- response_body_like eval
[qr{^/echo_hdr/a:1$}, "^/echo_hdr/b:2\$", qr/404 Not Found/]
--- no_error_log eval
["[alert]", qr/\[crit\]/]



=== TEST 4: request eval string, response_headers_like, raw_response_headers_like
--- config
    location = /hdrs {
        add_header X-Num 12345;
        return 200 "ok\n";
    }
--- request eval
"GET /hdrs"
--- response_headers_like
X-Num: \d+
Server: nginx.*
--- raw_response_headers_like: ^HTTP/1\.1 200 OK\r\n
--- response_body eval
"ok\n"



=== TEST 5: user_files and a chunked response (sub_filter drops Content-Length)
--- user_files
>>> sub/hello.txt
hello world
--- config
    location /sub/ {
        root $TEST_NGINX_SERVER_ROOT/html;
        sub_filter world nginx;
        sub_filter_types *;
    }
--- request
GET /sub/hello.txt
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body
hello nginx



=== TEST 6: response_body_unlike, timeout, wait, no_check_leak
--- config
    location = /u {
        return 200 "all good\n";
    }
--- request
GET /u
--- timeout: 5
--- wait: 0.1
--- response_body_unlike: error
--- no_check_leak



=== TEST 7: error_code and error_log lines from a missing file
--- config
    location /files/ {
        root $TEST_NGINX_SERVER_ROOT/html;
        log_not_found on;
    }
--- request
GET /files/nope.html
--- error_code: 404
--- response_body_like: 404 Not Found
--- error_log
No such file or directory
[error]
--- no_error_log
[alert]
[crit]



=== TEST 8: error_log eval array with a regex and a string
--- config
    location /files/ {
        root $TEST_NGINX_SERVER_ROOT/html;
    }
--- request
GET /files/nope2.txt
--- error_code: 404
--- error_log eval
[qr/open\(\) ".*nope2\.txt" failed/, "(2: No such file or directory)"]



=== TEST 9: raw_request is sent verbatim
--- config
    location = /raw {
        return 200 "raw:$http_x_raw\n";
    }
--- raw_request eval
"GET /raw HTTP/1.0\r\nHost: localhost\r\nX-Raw: yes\r\n\r\n"
--- raw_response_headers_like: Connection: close
--- response_body
raw:yes



=== TEST 10: pipelined_requests
--- config
    location /p {
        return 200 "$uri\n";
    }
--- pipelined_requests eval
["GET /p1", "GET /p2"]
--- error_code eval
[200, 200]
--- response_body eval
["/p1\n", "/p2\n"]
--- no_error_log
[error]



=== TEST 11: init, more_headers eval
--- init
open my $fh, '>', "$ENV{TEST_NGINX_SERVER_ROOT}/html/init.txt" or die $!;
print $fh "written by init\n";
close $fh;
--- config
    location = /init.txt {
        root $TEST_NGINX_SERVER_ROOT/html;
        add_header X-Foo-Echo $http_x_foo;
    }
--- more_headers eval
"X-Foo: " . (1 + 2)
--- request
GET /init.txt
--- response_headers
X-Foo-Echo: 3
--- response_body
written by init



=== TEST 12: must_die with error_log (bind error is written to error.log)
--- config
    listen unix:/nonexistent-test-nginx-dir/x.sock;
--- must_die
--- error_log
bind() to unix:/nonexistent-test-nginx-dir/x.sock failed
--- no_error_log
[alert]



=== TEST 13: must_die with an expected exit code (config syntax error)
--- config
    this_directive_does_not_exist on;
--- must_die: 1



=== TEST 14: HEAD request: no body
--- config
    location = /h {
        return 200 "body\n";
    }
--- request
HEAD /h
--- response_headers
Content-Length: 5
--- response_body



=== TEST 15: SKIP: this block is never run
--- config
    location = /never {
        return 500;
    }
--- request
GET /never
--- response_body
this would fail
--- SKIP



=== TEST 16: response_body_like (plain text regex), LAST
--- config
    location = /last {
        return 200 "line one\nline two\n";
    }
--- request
GET /last
--- response_body_like
^line one\nline two$
--- LAST



=== TEST 17: after LAST: never run
--- config
    location = /x {
        return 500;
    }
--- request
GET /x
--- response_body
never
