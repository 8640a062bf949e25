# A graceful reload of nginx (HUP) under load loses no request (issue 8):
# kept-alive clients read and save through ten reloads in a row, and every
# request gets its answer -- none is reset, none fails.  Plain Test::More
# with wrk against an nginx of its own (two workers).

use strict;
use warnings;
use lib 't/lib';
use VBP::Test;
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'wrk missing (make deps installs it)' unless -x '/usr/bin/wrk';

my $base = vbp_nginx_start('', '', 2);
END { vbp_nginx_stop() }

vbp_setup('user bb_admin password=Reload@Test2026 must_change=0 status=active');
my $t = vbp_setup('login bb_admin Reload@Test2026');
my $master = VBP::Test::slurp("$VbpTop/t/servroot-live/logs/nginx.pid");
ok($master, 'nginx runs');

my $seconds = $ENV{TEST_NGINX_USE_VALGRIND} ? 20 : 6;
# wrk counts an answer later than 2 s as a socket error; under valgrind a
# reload (nginx re-reading its configuration, templates and fonts) takes
# longer than that, and a late answer is not a lost one
my $timeout = $ENV{TEST_NGINX_USE_VALGRIND} ? '--timeout 30s' : '';

# wrk with ARGS for $seconds while nginx is reloaded ten times: its report
sub under_reloads {
    my ($conns, $args) = @_;
    open(my $wrk, '-|', "wrk -t2 -c$conns -d${seconds}s $timeout $args 2>&1") or die;
    sleep(1);
    for (1 .. 10) {
        kill 'HUP', $master;
        sleep(($seconds - 2) / 10);
    }
    my $out = join '', <$wrk>;
    close $wrk;
    return $out;
}

sub no_request_lost {
    my ($what, $out, $least) = @_;
    my ($n) = $out =~ /(\d+) requests in/;
    ok($n && $n > $least, "$what: $n requests through 10 reloads") or diag($out);
    unlike($out, qr/Socket errors/, '... no connection reset, refused or timed out') or diag($out);
    unlike($out, qr/Non-2xx/, '... every answer a 2xx') or diag($out);
    return $n // 0;
}

my $cookie = "-H 'Cookie: vbp_sid=$t->{'@SID@'}'";
no_request_lost('GET /api/me (nginx and Redis)', under_reloads(32, "$cookie $base/api/me"), 100);
no_request_lost('GET /api/org (a worker)', under_reloads(32, "$cookie $base/api/org"), 100);

# saves: a province renames one of its cities to the name it has, each
# request one transaction with its audit record
vbp_setup('user ln_admin password=Reload@Test2026 must_change=0 status=active');
my $p = vbp_setup('login ln_admin Reload@Test2026');
my $lua = "$VbpState/log/t012-save.lua";
open my $fh, '>', $lua or die;
print $fh <<"LUA";
wrk.method = "POST"
wrk.body = '{"code":"210100","name":"沈阳市"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cookie"] = "vbp_sid=$p->{'@SID@'}"
wrk.headers["X-CSRF-Token"] = "$p->{'@CSRF@'}"
LUA
close $fh;

my $before = vbp_sql("SELECT count(*) FROM audit_log WHERE action = 'region_renamed'");
my $n = no_request_lost('POST saves', under_reloads(16, "-s $lua $base/api/regions/rename"), 20);
cmp_ok(vbp_sql("SELECT count(*) FROM audit_log WHERE action = 'region_renamed'") - $before, '>=', $n,
       '... and each one is stored with its audit record');

unlike(vbp_error_log(), qr/\[(alert|crit|emerg)\]/, 'no alert in the error log');

done_testing();
