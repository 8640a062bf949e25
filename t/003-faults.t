# Faults while the platform runs: a worker child killed, Redis stopped and
# back, PostgreSQL restarted, malformed and oversized frames and bodies, an
# answer larger than the buffer, and a slow request that must not hold back
# another one while a child is idle.  Plain Test::More: the world changes
# between requests to one running nginx.

use strict;
use warnings;
use lib 't/lib';
use VBP::Test;
use Test::More;
use HTTP::Tiny;
use IO::Select;
use JSON::PP;
use Encode ();

my $base = vbp_nginx_start('', <<'_EOC_');
    location = /api/small-buffer {
        vbp_op auth.home GET;
        vbp_worker_buffer_size 128;
    }
_EOC_
my $http = HTTP::Tiny->new(timeout => 10);
END { vbp_nginx_stop() }

sub get {
    my ($path, $sid) = @_;
    return $http->get("$base$path", { headers => $sid ? { Cookie => "vbp_sid=$sid" } : {} });
}

vbp_setup('user bb_admin password=Demo@Pass1234 must_change=0');
my $t = vbp_setup('login bb_admin Demo@Pass1234');
my $sid = $t->{'@SID@'};

is(get('/api/org', $sid)->{status}, 200, 'the stack answers');

# --- a worker child dies ---------------------------------------------------

my $master = `cat $VbpState/worker.pid`;
chomp $master;
my @before = split ' ', `pgrep -P $master`;
vbp_setup('kill_worker_child');
for my $i (1 .. 3) {
    is(get('/api/org', $sid)->{status}, 200, "request $i after a child was killed");
}
select(undef, undef, undef, 1.5);
my @after = split ' ', `pgrep -P $master`;
is(scalar @after, scalar @before, 'the pool is back to full strength');

# --- Redis stops and comes back -------------------------------------------

vbp_setup('stop_redis');

my $r = get('/api/me', $sid);
is($r->{status}, 503, 'Redis down: the API answers 503');
like($r->{content}, qr/"code":"unavailable"/, '... in JSON');

$r = get('/', $sid);
is($r->{status}, 503, 'Redis down: a page answers 503');
like($r->{content}, qr/服务暂时不可用/, '... with a page the user can read');

$r = $http->post_form("$base/api/login", { username => 'bb_admin', password => 'x', captcha => 'x' });
is($r->{status}, 503, 'Redis down: sign-in answers 503');

is(get('/api/me', $sid)->{status}, 503, 'still 503, no crash') ;

vbp_setup('start_redis');

is(get('/api/me', $sid)->{status}, 200,
   'Redis back: the session survived (its append-only file), and nginx is back by itself');
$t = vbp_setup('login bb_admin Demo@Pass1234');
$sid = $t->{'@SID@'};
is(get('/api/me', $sid)->{status}, 200, 'Redis back: sign-in works again');

# --- PostgreSQL restarts ----------------------------------------------------

vbp_setup('restart_postgres');
is(get('/api/org', $sid)->{status}, 200, 'PostgreSQL restarted: the next request is served');
is(get('/api/org', $sid)->{status}, 200, '... and the one after');

# --- bad bodies and frames --------------------------------------------------

$r = $http->post("$base/api/login", { content => 'x' x (2 * 1024 * 1024),
                                      headers => { 'Content-Type' => 'application/json' } });
is($r->{status}, 413, 'a 2 MB body is refused with 413');
like($r->{content}, qr/^\{"error":\{"code":"too_large",/, '... in the JSON error format');

$r = get('/api/small-buffer', $sid);
is($r->{status}, 502, 'an answer larger than vbp_worker_buffer_size: 502');
like($r->{content}, qr/^\{"error":\{"code":"unavailable","message":"服务暂时不可用，请稍后再试"/,
     '... in the JSON error format, not nginx\'s page');
is(get('/api/org', $sid)->{status}, 200, '... and the next request is fine');

# an answer larger than the first read buffer (8k) is read into one that fits
vbp_setup('user lcb_admin password=Demo@Pass1234 must_change=0');
my $lcb = vbp_setup('login lcb_admin Demo@Pass1234')->{'@SID@'};
$r = get('/api/orgs?per_page=100', $lcb);
is($r->{status}, 200, 'a list of 100 organizations');
cmp_ok(length $r->{content}, '>', 8192, '... larger than the first buffer');
my $list = decode_json($r->{content});
is(scalar @{$list->{items}}, $list->{total} < 100 ? $list->{total} : 100, '... arrives whole');

my $a = vbp_raw_frame(pack('N', 0xFFFFFFF0) . 'x');
is($a->{status}, 400, 'a frame claiming 4 GB is refused');
$a = vbp_raw_frame(pack('N', 5) . '{"op"');
is($a->{status}, 400, 'a frame that is not JSON is refused');
$a = vbp_raw_frame(pack('N', 3) . '[1]');
is($a->{status}, 400, 'a frame that is not an object is refused');
$a = vbp_frame({ op => 'no.such.op', args => {} });
is($a->{status}, 404, 'an unknown operation: 404');
$a = vbp_frame({ op => 'auth.home', args => {} });
is($a->{status}, 401, 'an operation that needs a user, without one: 401');
$a = vbp_frame({ op => 'org.self', args => [], actor => { uid => 1, org_id => 1 } });
is($a->{status}, 400, 'args that are not an object: 400');

# a JSON body nginx passed as it came follows the frame's object, its size
# first (ngx_http_vbp_body_as_is): parsed there, judged as nginx would
my $head = encode_json({ op => 'org.self', actor => decode_json(vbp_redis('GET', "vbp:sess:$sid")) });
sub with_body {
    my ($size, $body) = @_;
    (my $f = $head) =~ s/^\{/{"body":$size,/;
    return vbp_raw_frame(pack('N', length($f) + length $body) . $f . $body);
}
$a = with_body(7, '{"x":1}');
is($a->{status}, 200, 'a frame with its body after it: answered');
$a = with_body(3, '[1]');
is($a->{status}, 400, 'a body after the frame that is no object: 400 ...');
is($a->{error}{message}, Encode::decode_utf8('请求体不是合法的 JSON 对象'), '... saying so');
$a = with_body(4, "\xff\xfe{}");
is($a->{status}, 400, 'a body that is not UTF-8: 400');
$a = with_body(99, '{"x":1}');
is($a->{status}, 400, 'a body size larger than the frame: the frame is refused');
$a = with_body(0, '');
is($a->{status}, 400, 'a body size of 0: the frame is refused');
$a = with_body('9' x 40, '{"x":1}');
is($a->{status}, 400, 'a body size past any number: the frame is refused');
($head = $head) =~ s/^\{/{"args":{},/;
$a = with_body(7, '{"x":1}');
is($a->{status}, 400, 'a body and arguments both: the frame is refused');
is(get('/api/org', $sid)->{status}, 200, 'none of that harmed a normal request');

# --- a slow request does not hold back another -----------------------------

# hold the row lock of bb_admin for a while: its password change waits
my $conninfo = `cat $VbpState/conninfo`;
chomp $conninfo;
my $locker = open(my $lock, '|-', 'psql', '-X', '-q', '-d', $conninfo) or die $!;
print $lock "BEGIN; SELECT 1 FROM users WHERE username = 'bb_admin' FOR UPDATE;\n"
          . "SELECT pg_sleep(2); COMMIT;\n";
select(undef, undef, undef, 0.5);

my $actor = decode_json(vbp_redis('GET', "vbp:sess:$sid"));
my $slow = vbp_worker_socket();
my $body = encode_json({ op => 'auth.change_password', actor => $actor, sid => $sid,
    args => { old_password => 'Demo@Pass1234', new_password => 'Slow@Pass12345',
              confirm_password => 'Slow@Pass12345' } });
print $slow pack('N', length $body) . $body;

$a = vbp_frame({ op => 'org.self', actor => $actor, args => {} });
is($a->{status}, 200, 'another request is answered by an idle child ...');
ok(!IO::Select->new($slow)->can_read(0), '... while the slow one is still running');

ok(IO::Select->new($slow)->can_read(10), 'the slow one finishes');
is(VBP::Test::read_frame($slow)->{status}, 200, '... and succeeds');
close $lock;

unlike(vbp_error_log(), qr/\[(alert|crit|emerg)\]/, 'no alert or crash in the error log');

done_testing();
