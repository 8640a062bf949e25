# The deadline rush waits its turn (issue 10): more saves at one instant
# than the pool has children, and more than its socket's listen queue
# holds, are each answered 200 -- they wait in nginx's waiting room
# (vbp_worker_concurrency, vbp_worker_queue), never refused with 502
# because others arrived at the same moment.  Past the room's own limit the
# answer is the platform's 503 (系统繁忙, Retry-After), still never 502.
# Plain Test::More with wrk against an nginx of its own.

use strict;
use warnings;
use lib 't/lib';
use VBP::Test;
use Test::More;

plan skip_all => 'wrk missing (make deps installs it)' unless -x '/usr/bin/wrk';

my $valgrind = $ENV{TEST_NGINX_USE_VALGRIND};
my $conns = $valgrind ? 300 : 1200;
my $timeout = '--timeout 60s';

vbp_setup('user ln_admin password=Rush@Test2026 must_change=0 status=active');
my $p = vbp_setup('login ln_admin Rush@Test2026');
my $lua = "$VbpState/log/t032-save.lua";
open my $fh, '>', $lua or die;
print $fh <<"LUA";
wrk.method = "POST"
wrk.body = '{"code":"210100","name":"\xe6\xb2\x88\xe9\x98\xb3\xe5\xb8\x82"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cookie"] = "vbp_sid=$p->{'@SID@'}"
wrk.headers["X-CSRF-Token"] = "$p->{'@CSRF@'}"
LUA
close $fh;

sub rush {
    my ($base, $c, $seconds) = @_;
    open(my $wrk, '-|', "wrk -t2 -c$c -d${seconds}s $timeout -s $lua $base/api/regions/rename 2>&1") or die;
    my $out = join '', <$wrk>;
    close $wrk;
    return $out;
}

# a room of 2 per nginx worker: every other save of the rush waits in it
my $base = vbp_nginx_start("vbp_worker_concurrency 2;\nvbp_worker_queue 100000 60s;", '', 2, 4096);
END { vbp_nginx_stop() }
my $before = vbp_sql("SELECT count(*) FROM audit_log WHERE action = 'region_renamed'");
my $out = rush($base, $conns, $valgrind ? 10 : 5);
my ($n) = $out =~ /(\d+) requests in/;
ok($n && $n >= $conns, "$conns clients saving at once: $n saves") or diag($out);
unlike($out, qr/Socket errors/, '... no connection refused, reset or timed out') or diag($out);
unlike($out, qr/Non-2xx/, '... every one answered 200') or diag($out);
cmp_ok(vbp_sql("SELECT count(*) FROM audit_log WHERE action = 'region_renamed'") - $before, '>=', $n,
       '... each stored with its audit record');
my $log = vbp_error_log();
unlike($log, qr/connect\(\) to unix:\S+ failed \(11/, '... nginx never found the pool\'s listen queue full');
unlike($log, qr/\[(alert|crit|emerg)\]/, '... no alert');

# a room of 1 that holds 5 for at most 1 s: the rest is told to come back
$base = vbp_nginx_start("vbp_worker_concurrency 1;\nvbp_worker_queue 5 1s;", '', 1, 1024);
$out = rush($base, 200, 3);
like($out, qr/Non-2xx or 3xx responses: \d+/, 'past the room\'s limit some are turned away') or diag($out);
$log = vbp_error_log();
like($log, qr/the queue is full|waited for the pool too long/, '... by the room, which says why in the log');
unlike($log, qr/connect\(\) to unix:\S+ failed/, '... never by a failed connect');

my ($st, $d, $raw, $h);
# one more while a rush fills a room of one: its answer is the platform's 503
$base = vbp_nginx_start("vbp_worker_concurrency 1;\nvbp_worker_queue 1 1s;", '', 1, 1024);
my $busy = $valgrind ? 20 : 3;     # seconds of rush; valgrind is slow
open(my $bg, '-|', "wrk -t1 -c100 -d${busy}s $timeout -s $lua $base/api/regions/rename 2>&1") or die;
select(undef, undef, undef, $valgrind ? 5 : 1);
for (1 .. 200) {
    ($st, $d, $raw, $h) = vbp_api($base, { sid => $p->{'@SID@'}, csrf => $p->{'@CSRF@'} }, 'POST', '/api/regions/rename', { code => '210100', name => "\x{6c88}\x{9633}\x{5e02}" });
    last if $st == 503;
}
close $bg;
diag("last: $st $raw") unless $st == 503;
is($st, 503, 'a save turned away is 503');
is($d && $d->{error}{code}, 'busy', '... with the code busy');
is($h && $h->{'retry-after'}, '10', '... and Retry-After');

done_testing();
