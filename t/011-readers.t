# The read pool (vbp-worker -R, worker/reader.c) and the session cache in
# nginx (ngx_http_vbp_session_cache.c): many users' reads pipelined on one
# PostgreSQL connection each get their own answer; a read child killed, a
# database restarted, bad frames and operations that are not reads are all
# survived; a session changed in Redis is never served from a cache.
# Plain Test::More: requests run in parallel and the world changes between
# them.

use strict;
use warnings;
use lib 't/lib';
use VBP::Test;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use POSIX ();

my $base = vbp_nginx_start('', '', 2);
my $http = HTTP::Tiny->new(timeout => 10);
END { vbp_nginx_stop() }

sub invalidated { select(undef, undef, undef, 0.02) }

sub get {
    my ($path, $sid) = @_;
    return $http->get("$base$path", { headers => $sid ? { Cookie => "vbp_sid=$sid" } : {} });
}

# three users of three organizations
my %sid;
my %org;
for my $user (qw(sy_admin dl_admin hf_admin)) {
    vbp_setup("user $user password=Demo\@Pass1234 must_change=0");
    $sid{$user} = vbp_setup("login $user Demo\@Pass1234")->{'@SID@'};
    $org{$user} = vbp_sql("SELECT o.code FROM users u JOIN orgs o ON o.id = u.org_id"
                          . " WHERE u.username = '$user'");
    my $r = get('/api/org', $sid{$user});
    is($r->{status}, 200, "$user reads its organization");
    like($r->{content}, qr/"code":"$org{$user}"/, "... $org{$user}");
}

# --- pipelined: every answer is its own caller's ----------------------------

# 6 processes, 2 per user, 150 reads each on kept-alive connections: the
# read children see frames of different users at once and pipeline them
my @kids;
for my $user ((sort keys %sid) x 2) {
    pipe(my $rd, my $wr) or die $!;
    my $pid = fork // die $!;
    if ($pid == 0) {
        close $rd;
        my $h = HTTP::Tiny->new(timeout => 10, keep_alive => 1);
        my ($ok, $wrong) = (0, 0);
        for (1 .. 150) {
            my $r = $h->get("$base/api/org", { headers => { Cookie => "vbp_sid=$sid{$user}" } });
            if ($r->{status} == 200 && $r->{content} =~ /"code":"\Q$org{$user}\E"/) {
                $ok++;
            } else {
                $wrong++;
            }
        }
        print $wr "$ok $wrong\n";
        close $wr;
        POSIX::_exit(0);
    }
    close $wr;
    push @kids, [$pid, $rd, $user];
}
my ($ok, $wrong) = (0, 0);
for my $k (@kids) {
    my $line = readline($k->[1]) // "0 150\n";
    my ($o, $w) = split ' ', $line;
    $ok += $o;
    $wrong += $w;
    waitpid($k->[0], 0);
}
is($ok, 900, '900 parallel reads of 3 users: each answer is its caller\'s');
is($wrong, 0, '... and none is another user\'s or an error');

# --- a read child dies -------------------------------------------------------

my $master = `cat $VbpState/worker.pid`;
chomp $master;
my @before = split ' ', `pgrep -P $master -x vbp-reader`;
ok(scalar @before >= 1, 'the pool has read children');
vbp_setup('kill_reader_child');
for my $i (1 .. 3) {
    is(get('/api/org', $sid{sy_admin})->{status}, 200, "read $i after a read child was killed");
}
select(undef, undef, undef, 1.5);
my @after = split ' ', `pgrep -P $master -x vbp-reader`;
is(scalar @after, scalar @before, 'the read children are back to full strength');

# --- PostgreSQL restarts under the pipelined connection ----------------------

vbp_setup('restart_postgres');
is(get('/api/org', $sid{dl_admin})->{status}, 200, 'PostgreSQL restarted: the read is sent again and served');
is(get('/api/org', $sid{hf_admin})->{status}, 200, '... and the next one');

# --- frames straight to the read socket --------------------------------------

my $a = vbp_raw_frame(pack('N', 0xFFFFFFF0) . 'x', reader => 1);
is($a->{status}, 400, 'read socket: a frame claiming 4 GB is refused');
$a = vbp_raw_frame(pack('N', 5) . '{"op"', reader => 1);
is($a->{status}, 400, 'read socket: a frame that is not JSON is refused');
$a = vbp_raw_frame(pack('N', 3) . '[1]', reader => 1);
is($a->{status}, 400, 'read socket: a frame that is not an object is refused');

my $actor = decode_json(vbp_redis('GET', "vbp:sess:$sid{sy_admin}"));
$a = vbp_frame({ op => 'org.self', args => {}, actor => $actor }, reader => 1);
is($a->{status}, 200, 'read socket: org.self with an actor');
is($a->{data}{code}, $org{sy_admin}, '... answers that actor\'s organization');
$a = vbp_frame({ op => 'org.self', args => {} }, reader => 1);
is($a->{status}, 401, 'read socket: org.self without an actor: 401');
$a = vbp_frame('{"op":"org.self","args":{},"actor":{"org_id":1},"actor":{"org_id":2}}', reader => 1);
is($a->{status}, 400, 'read socket: two actors in one frame are refused');
$a = vbp_frame('{"op":"org.self","args":{},"actor":{"org_id":1},"\u0061ctor":{"org_id":2}}', reader => 1);
is($a->{status}, 400, '... also when one is spelt with an escape');
$a = vbp_frame({ op => 'no.such.op', args => {} }, reader => 1);
is($a->{status}, 404, 'read socket: an unknown operation: 404');
$a = vbp_frame({ op => 'auth.home', args => {}, actor => $actor }, reader => 1);
is($a->{status}, 200, 'read socket: an operation that is not a read is still answered');
ok($a->{data}{menu}, '... with its data');

# two frames at once on one connection: answered in order
{
    my $s = vbp_worker_socket(reader => 1);
    my $one = encode_json({ op => 'org.self', args => {}, actor => $actor });
    my $two = encode_json({ op => 'no.such.op', args => {} });
    print $s pack('N', length $one) . $one . pack('N', length $two) . $two;
    my $first = VBP::Test::read_frame($s);
    my $second = VBP::Test::read_frame($s);
    is($first->{status}, 200, 'two frames sent ahead on one connection: the first answer first');
    is($second->{status}, 404, '... then the second');
}
is(get('/api/org', $sid{sy_admin})->{status}, 200, 'none of that harmed a normal read');

# --- the session cache follows Redis -----------------------------------------

# both nginx workers have read (and cached) the session by now
for (1 .. 6) {
    is(get('/api/me', $sid{hf_admin})->{status}, 200, "hf_admin is signed in ($_)");
}
vbp_redis('DEL', "vbp:sess:$sid{hf_admin}");
# Redis answers the DEL first and writes the invalidations right after, in
# the same turn of its loop; a client woken by that answer can be faster
# than them by microseconds.  A revocation through the worker (a commit and
# an answer later) never is; a bare DEL here waits a moment.
invalidated();
for (1 .. 6) {
    is(get('/api/me', $sid{hf_admin})->{status}, 401, "its session deleted in Redis: 401 at once ($_)");
}

# a changed session (as a grant or a sign-in changes it) is seen at once
my $text = vbp_redis('GET', "vbp:sess:$sid{dl_admin}");
like(get('/api/me', $sid{dl_admin})->{content}, qr/"username":"dl_admin"/, 'dl_admin as cached');
(my $renamed = $text) =~ s/"name":"[^"]*"/"name":"CACHE-CHECK"/;
vbp_redis('SET', "vbp:sess:$sid{dl_admin}", $renamed, 'EX', 600);
invalidated();
for (1 .. 4) {
    like(get('/api/me', $sid{dl_admin})->{content}, qr/"name":"CACHE-CHECK"/,
         "the session rewritten in Redis is what is served ($_)");
}

# nginx's connections to Redis killed: nothing stale survives the reconnect
vbp_redis('CLIENT', 'KILL', 'TYPE', 'pubsub');
select(undef, undef, undef, 0.3);
vbp_redis('DEL', "vbp:sess:$sid{dl_admin}");
invalidated();
for (1 .. 4) {
    is(get('/api/me', $sid{dl_admin})->{status}, 401,
       "the invalidation connection was killed, then the session deleted: 401 ($_)");
}
is(get('/api/me', $sid{sy_admin})->{status}, 200, '... while another session still works');

unlike(vbp_error_log(), qr/\[(alert|crit|emerg)\]/, 'nothing alarming in the error log');

# --- vbp_session_cache 0: every request reads Redis --------------------------

$base = vbp_nginx_start("vbp_session_cache 0;\n", '', 2);
my $sid = vbp_setup('login sy_admin Demo@Pass1234')->{'@SID@'};
is(get('/api/me', $sid)->{status}, 200, 'no session cache: signed in');
is(get('/api/org', $sid)->{status}, 200, '... and reads work');
select(undef, undef, undef, 0.5);       # the old nginx's connections close
my $pubsub = () = vbp_redis('CLIENT', 'LIST', 'TYPE', 'pubsub') =~ /^id=/mg;
is($pubsub, 0, '... with no invalidation connection to Redis');
vbp_redis('DEL', "vbp:sess:$sid");
is(get('/api/me', $sid)->{status}, 401, '... and a deleted session ends at once');

done_testing();
