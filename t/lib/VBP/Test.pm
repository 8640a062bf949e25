package VBP::Test;

# Shared set-up for the t/*.t files, usable under CPAN's Test::Nginx and
# under the fallback runner alike.
#
# Load it BEFORE Test::Nginx::Socket: it sets the TEST_NGINX_* defaults
# (module to load, worker socket, Redis port) from the test stack that
# `make test` starts in .run/test (tools/stack), unless they are set.
#
# vbp_blocks() installs a block preprocessor that
#   - gives a block without --- http_config / --- config the platform's
#     own configuration (conf/vbp-routes.conf, plus /captcha-test which
#     exposes the answer, for tests only);
#   - runs the block's --- setup lines right before the block runs, and
#     replaces @TOKENS@ they define in the request, headers and checks.
#
# Setup lines:
#   user NAME [password=P] [must_change=0|1] [status=active|disabled]
#   login NAME PASSWORD [ttl=SECONDS] [as=X]
#                                         signs in through the worker's real
#                                         auth.login: @SID@ @CSRF@ (then
#                                         @SID2@ @CSRF2@ ... for the next in
#                                         the same block; @SID_X@ @CSRF_X@
#                                         with as=X);
#                                         tokens stay defined for the blocks
#                                         that follow (no_shuffle) until a
#                                         later setup redefines them
#   captcha [N] [ttl=SECONDS]             stores N captchas as GET /captcha
#                                         does: @CAPID1@ @CAP1@ ... (and
#                                         @CAPID@ @CAP@ for the first)
#   sql STATEMENT                         runs it in the test database
#   token NAME STATEMENT                  @NAME@ is its first value
#   redis WORD...                         one Redis command
#   sleep SECONDS                         (SECONDS, and ttl= above, times
#                                         $TimeScale: 4 under valgrind)
#   kill_worker_child                     SIGKILL to one child of the pool
#   kill_reader_child                     ... to one read child (vbp-reader)
#   stop_redis | start_redis | restart_postgres
#                                         (the stack's supervisor holds off
#                                         meanwhile: tools/stack hold/free)

use strict;
use utf8;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IO::Socket::INET;
use IO::Socket::UNIX;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep);

use Exporter 'import';
our @EXPORT = qw(vbp_raw_frame vbp_worker_socket vbp_blocks vbp_sql vbp_frame vbp_redis vbp_setup vbp_nginx_start
                 vbp_nginx_stop vbp_error_log vbp_xlsx vbp_xlsx_raw vbp_journey vbp_api vbp_page vbp_form
                 vbp_open_project vbp_sign_in vbp_race
                 $VbpTop $VbpState);

our $VbpTop = abs_path(dirname(__FILE__) . '/../../..');
our $VbpState = $ENV{VBP_TEST_STATE} // "$VbpTop/.run/test";

sub slurp {
    my $f = shift;
    open my $fh, '<', $f or return undef;
    local $/;
    my $s = <$fh>;
    $s =~ s/\n\z// if defined $s;     # chomp does nothing while $/ is undef
    return $s;
}

$ENV{TEST_NGINX_LOAD_MODULES} //= "$VbpTop/build/ngx_http_vbp_module.so";
$ENV{TEST_NGINX_VBP_WORKER} //= "unix:$VbpState/worker.sock";
$ENV{TEST_NGINX_VBP_READER} //= "unix:$VbpState/reader.sock";
$ENV{TEST_NGINX_VBP_HASHER} //= "unix:$VbpState/hasher.sock";
$ENV{TEST_NGINX_REDIS_PORT} //= slurp("$VbpState/redis.port") // 6391;
$ENV{TEST_NGINX_VBP_TOP} //= $VbpTop;
# uploads go where the worker pool (-u) reads them
$ENV{TEST_NGINX_UPLOAD_DIR} //= "$VbpState/nginx/body";
# uploaded files, where the pool (-S) stores them
$ENV{TEST_NGINX_FILE_STORE} //= "$VbpState/files";

our $Conninfo = $ENV{VBP_TEST_CONNINFO} // slurp("$VbpState/conninfo");

our $HttpConfig = <<'_EOC_';
    upstream vbp_workers {
        server $TEST_NGINX_VBP_WORKER;
        keepalive 2;
    }

    upstream vbp_readers {
        server $TEST_NGINX_VBP_READER;
        keepalive 8;
    }

    upstream vbp_hashers {
        server $TEST_NGINX_VBP_HASHER;
    }

    vbp_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    vbp_redis_timeout 2s;
    vbp_templates $TEST_NGINX_VBP_TOP/lua-free-templates;
_EOC_

our $Config = <<'_EOC_';
    vbp_worker_pass vbp_workers;
    vbp_reader_pass vbp_readers;
    vbp_hash_pass vbp_hashers;
    client_body_temp_path $TEST_NGINX_UPLOAD_DIR;
    vbp_login_throttle 1000 1m;

    # a test names its client in X-Forwarded-For (locks and throttles are
    # per client address); without it the client is 127.0.0.1
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;

    include $TEST_NGINX_VBP_TOP/conf/vbp-routes.conf;

    location ^~ /.vbp-files/ {
        internal;
        alias $TEST_NGINX_FILE_STORE/;
        types { }
        default_type application/octet-stream;
    }

    location /static/ {
        alias $TEST_NGINX_VBP_TOP/lua-free-templates/static/;
        types { text/css css; application/javascript js; image/svg+xml svg; }
    }

    location = /favicon.ico {
        alias $TEST_NGINX_VBP_TOP/lua-free-templates/static/favicon.svg;
        types { }
        default_type image/svg+xml;
    }

    location = /captcha-test {
        vbp_auth off;
        vbp_captcha;
        vbp_captcha_expose on;
    }
_EOC_

# Under valgrind everything is slower, nginx's start most of all (seconds):
# the times of setup lines (sleep N, ttl=N) and @SECONDS:N@ in a block are
# scaled, so that a test of timeouts measures the timeout, not valgrind
our $TimeScale = $ENV{TEST_NGINX_USE_VALGRIND} ? 4 : 1;

my @TokenSections = qw(http_config config request more_headers raw_request response_body
    response_body_like response_body_unlike response_headers
    response_headers_like error_log no_error_log);

my %Hashes;
my %Tokens;

sub vbp_blocks {
    Test::Nginx::Socket::add_block_preprocessor(\&preprocess);
}

# Test::Nginx's check-leak and benchmark modes flood each block's first
# request: each block starts from the same throttles, probe counts and
# locks, so that no flood leaves the next one measuring only 429s and 423s
# (a flood within its block is its own business), and what the
# previous flood got is said (its statuses, from the access log)
our $Flooding = $ENV{TEST_NGINX_CHECK_LEAK} || $ENV{TEST_NGINX_BENCHMARK};
my $FloodName;

sub flood_report {
    return unless $Flooding && defined $FloodName;
    my $log = "$VbpState/log/flood-access.log";
    my %n;
    if (open my $fh, '<', $log) {
        while (<$fh>) { $n{$1}++ if /" (\d{3}) / }
    }
    unlink $log;
    my $seen = join ', ', map { "$_ x $n{$_}" } sort keys %n;
    Test::More::diag("flood of $FloodName: " . ($seen || 'no request logged'));
    undef $FloodName;
}

END { flood_report() }

sub preprocess {
    my $block = shift;

    if ($Flooding) {
        flood_report();
        $FloodName = $block->name;
        vbp_sql("DELETE FROM login_locks");
        for my $pattern ('vbp:thr:*', 'vbp:probe:*') {
            my $keys = vbp_redis('KEYS', $pattern);
            vbp_redis('DEL', @$keys) if ref $keys && @$keys;
        }
    }

    $block->set_value(http_config => $HttpConfig)
        unless defined $block->http_config;
    $block->set_value(config => $Config) unless defined $block->config;

    # those modes turn nginx's access log off; this one counts the flood
    $block->set_value(config => $block->config
                      . "\n    access_log $VbpState/log/flood-access.log;\n")
        if $Flooding;

    # tokens of earlier blocks stay usable (a session across blocks)
    my %new;
    if (defined(my $setup = $block->setup)) {
        for my $line (split /\n/, $setup) {
            next if $line =~ /^\s*(#|$)/;
            run_setup($line, \%new);
        }
    }

    fold_body_patterns($block);

    for my $name (@TokenSections) {
        my $v = $block->$name;
        next unless defined $v && !ref $v && $v =~ /\@SECONDS:/;
        $v =~ s/\@SECONDS:(\d+(?:\.\d+)?)\@/$1 * $TimeScale/ge;
        $block->set_value($name => $v);
    }

    %Tokens = (%Tokens, %new);
    my %tokens = %Tokens;

    if (%tokens) {
        my $re = join '|', map { quotemeta } sort { length $b <=> length $a } keys %tokens;
        for my $name (@TokenSections) {
            my $v = $block->$name;
            next unless defined $v;
            if (ref $v eq 'ARRAY') {
                $v = [ map { my $s = $_; $s =~ s/($re)/$tokens{$1}/g if defined $s; $s } @$v ];
            } else {
                $v =~ s/($re)/$tokens{$1}/g;
            }
            $block->set_value($name => $v);
        }
    }

    return $block;
}

# Test::Nginx checks response_body_like or, when there is none,
# response_body_unlike -- never both (nor does our fallback, which counts
# assertions the same way).  A block that has both gets them as one
# pattern, so that the "and nothing else" half is asserted too, under
# either runner: the body matches like and does not match unlike anywhere.
sub fold_body_patterns {
    my $block = shift;
    my ($like, $unlike) = ($block->response_body_like, $block->response_body_unlike);
    return unless defined $like && defined $unlike;

    my $fold = sub {
        my ($l, $u) = @_;
        for ($l, $u) { s/\n\z// }
        my $not = "(?!(?s:.*?)(?:$u))";
        return $l =~ s/^\^// ? "^$not(?:$l)" : "^$not(?=(?s:.*?)(?:$l))";
    };
    my @u = ref $unlike ? @$unlike : ();
    my $folded = ref $like
        ? [ map { $fold->($like->[$_], ref $unlike ? $u[$_] : $unlike) } 0 .. $#$like ]
        : $fold->($like, ref $unlike ? $u[0] : $unlike);

    $block->set_value(response_body_like => $folded);
    $block->set_value(response_body_unlike => undef);
}

sub run_setup {
    my ($line, $tokens) = @_;
    my ($cmd, $rest) = $line =~ /^\s*(\S+)\s*(.*?)\s*$/;

    if ($cmd eq 'sql') {
        vbp_sql($rest);

    } elsif ($cmd eq 'user') {
        my ($name, @kv) = split ' ', $rest;
        my %o = map { split /=/, $_, 2 } @kv;
        my @set;
        push @set, "password_hash = '" . hash_password($o{password}) . "'"
            if defined $o{password};
        push @set, "must_change_password = " . ($o{must_change} ? 'true' : 'false')
            if defined $o{must_change};
        push @set, "status = '$o{status}'" if defined $o{status};
        push @set, "updated_at = now()";
        vbp_sql("UPDATE users SET " . join(', ', @set) . " WHERE username = '$name'");
        vbp_sql("DELETE FROM login_locks WHERE username = '$name'");

    } elsif ($cmd eq 'login') {
        my ($name, $password, @kv) = split ' ', $rest;
        my %o = map { split /=/, $_, 2 } @kv;
        my $answer = vbp_frame({
            op => 'auth.login', args => { username => $name, password => $password },
            ip => '127.0.0.1', session_ttl => defined $o{ttl} ? $o{ttl} * $TimeScale : 1800,
            captcha_ok => JSON::PP::true,
        });
        die "setup login $name failed: " . encode_json($answer) . "\n"
            unless $answer->{status} == 200;
        my $sfx;
        if (defined $o{as}) {
            $sfx = "_$o{as}";
        } else {
            my $n = 1;
            $n++ while exists $tokens->{ $n == 1 ? '@SID@' : "\@SID$n\@" };
            $sfx = $n == 1 ? '' : $n;
        }
        $tokens->{"\@SID$sfx\@"} = $answer->{session}{id};
        my $s = vbp_redis('GET', "vbp:sess:$answer->{session}{id}");
        $tokens->{"\@CSRF$sfx\@"} = decode_json($s)->{csrf};

    } elsif ($cmd eq 'captcha') {
        my ($n, @kv) = split ' ', $rest;
        $n = 1 unless defined $n && $n =~ /^\d+$/;
        my %o = map { split /=/, $_, 2 } grep { /=/ } ($rest =~ /(\S+=\S+)/g);
        for my $i (1 .. $n) {
            my $id = join '', map { ('A'..'Z', 'a'..'z', 0..9, '-', '_')[rand 64] } 1 .. 22;
            my $answer = join '', map { (2..9, 'A'..'H', 'J'..'N', 'P'..'Z')[rand 32] } 1 .. 4;
            vbp_redis('SETEX', "vbp:cap:$id", $o{ttl} // 300, $answer);
            $tokens->{"\@CAPID$i\@"} = $id;
            $tokens->{"\@CAP$i\@"} = $answer;
            $tokens->{"\@cap$i\@"} = lc $answer;
        }
        $tokens->{'@CAPID@'} = $tokens->{'@CAPID1@'};
        $tokens->{'@CAP@'} = $tokens->{'@CAP1@'};
        $tokens->{'@cap@'} = $tokens->{'@cap1@'};

    } elsif ($cmd eq 'token') {
        my ($name, $sql) = split ' ', $rest, 2;
        $tokens->{"\@$name\@"} = vbp_sql($sql) // '';

    } elsif ($cmd eq 'redis') {
        vbp_redis(split ' ', $rest);

    } elsif ($cmd eq 'sleep') {
        sleep($rest * $TimeScale);

    } elsif ($cmd eq 'kill_worker_child' || $cmd eq 'kill_reader_child') {
        my $master = slurp("$VbpState/worker.pid") or die "no worker pid\n";
        # read children call themselves vbp-reader (under valgrind the
        # others keep valgrind's name)
        my %reader = map { $_ => 1 } split ' ', `pgrep -P $master -x vbp-reader`;
        my ($child) = grep { ($cmd eq 'kill_reader_child') == !!$reader{$_} }
                      split ' ', `pgrep -P $master`;
        die "no worker child\n" unless $child;
        kill 'KILL', $child;
        sleep(0.3);

    } elsif ($cmd eq 'stop_redis') {
        # the stack's supervisor would start it again at once: held first
        system("$VbpTop/tools/stack hold $VbpState redis") == 0 or die "hold\n";
        my $pid = slurp("$VbpState/redis.pid");
        kill 'TERM', $pid if $pid;
        for (1 .. 50) { last unless $pid && kill 0, $pid; sleep(0.1) }

    } elsif ($cmd eq 'start_redis') {
        system("redis-server $VbpState/redis.conf </dev/null >/dev/null 2>&1") == 0
            or die "cannot start redis\n";
        for (1 .. 50) { last if eval { vbp_redis('PING') }; sleep(0.1) }
        system("$VbpTop/tools/stack free $VbpState redis") == 0 or die "free\n";

    } elsif ($cmd eq 'restart_postgres') {
        my ($bin) = sort glob('/usr/lib/postgresql/*/bin');
        system("$VbpTop/tools/stack hold $VbpState postgres") == 0 or die "hold\n";
        system("runuser -u postgres -- $bin/pg_ctl -D $VbpState/pg -m fast -w restart"
               . " -l $VbpState/log/postgres.log >/dev/null") == 0
            or die "cannot restart postgres\n";
        system("$VbpTop/tools/stack free $VbpState postgres") == 0 or die "free\n";

    } else {
        die "unknown setup line: $line\n";
    }
}

# for plain Test::More files: one setup line, tokens returned
sub vbp_setup {
    my %tokens;
    run_setup($_, \%tokens) for @_;
    return \%tokens;
}

# an nginx of our own with the platform's configuration, for tests that
# change the world (Redis, PostgreSQL, the pool) while it runs
our $LivePort = ($ENV{TEST_NGINX_PORT} // 1984) + 1;
my $LiveRoot = "$VbpTop/t/servroot-live";

sub vbp_nginx_start {
    my ($extra_http, $extra_server, $workers, $connections) = @_;
    $extra_http //= '';
    $extra_server //= '';
    $workers //= 1;
    $connections //= 256;
    vbp_nginx_stop();
    system("rm -rf $LiveRoot && mkdir -p $LiveRoot/conf $LiveRoot/logs") == 0 or die;
    my $conf = "load_module $ENV{TEST_NGINX_LOAD_MODULES};\n"
        . "worker_processes $workers;\nerror_log logs/error.log info;\npid logs/nginx.pid;\n"
        # (valgrind keeps nginx from raising its limit: the shell's holds)
        . ($ENV{TEST_NGINX_USE_VALGRIND} ? '' : "worker_rlimit_nofile " . ($connections * 2 + 64) . ";\n")
        . "events { worker_connections $connections; }\n"
        . "http {\n access_log off;\n client_body_temp_path $LiveRoot/body;\n"
        . " client_max_body_size 1m;\n$HttpConfig\n$extra_http\n"
        . " server {\n  listen 127.0.0.1:$LivePort;\n$Config\n$extra_server\n }\n}\n";
    $conf =~ s/\$(TEST_NGINX_[A-Z_]+)/$ENV{$1}/g;
    open my $fh, '>', "$LiveRoot/conf/nginx.conf" or die;
    print $fh $conf;
    close $fh;
    # under make test-valgrind (TEST_NGINX_USE_VALGRIND), this nginx runs
    # under valgrind too, logging where tools/run-tests reads at the end
    my @valgrind;
    if (my $v = $ENV{TEST_NGINX_USE_VALGRIND}) {
        @valgrind = ('valgrind', $v =~ /^\d+$/
                     ? ('--leak-check=full', '--num-callers=30',
                        "--suppressions=$VbpTop/valgrind.suppress")
                     : grep { !/^--log-file=/ } split ' ', $v);
        push @valgrind, "--log-file=$VbpState/log/valgrind-live.%p.log";
    }
    system(@valgrind, 'nginx', '-p', $LiveRoot, '-c', "$LiveRoot/conf/nginx.conf") == 0
        or die "nginx did not start\n";
    for (1 .. (@valgrind ? 600 : 50)) {
        last if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$LivePort");
        sleep(0.1);
    }
    return "http://127.0.0.1:$LivePort";
}

sub vbp_nginx_stop {
    my $pid = slurp("$LiveRoot/logs/nginx.pid") or return;
    kill 'QUIT', $pid;
    # valgrind writes its report while the processes exit: wait for it
    for (1 .. ($ENV{TEST_NGINX_USE_VALGRIND} ? 600 : 50)) {
        last unless kill 0, $pid;
        sleep(0.1);
    }
    kill 'KILL', $pid if kill 0, $pid;
}

sub vbp_error_log { return slurp("$LiveRoot/logs/error.log") // '' }

# one request of a signed-in client ({sid, csrf}) to an nginx at BASE:
# (status, the answer's JSON or undef, the raw answer).  A POST body is a
# reference (sent as JSON) or bytes of TYPE.
my $ApiClient;

sub vbp_api {
    my ($base, $as, $method, $path, $body, $type) = @_;
    require HTTP::Tiny;
    require Encode;
    $ApiClient //= HTTP::Tiny->new(timeout => 30);
    my %h = (Cookie => "vbp_sid=$as->{sid}");
    my %o = (headers => \%h);
    if ($method eq 'POST') {
        $h{'X-CSRF-Token'} = $as->{csrf};
        $h{'Content-Type'} = $type // 'application/json';
        $o{content} = ref $body ? JSON::PP->new->utf8->canonical->encode($body)
                      : utf8::is_utf8($body // '') ? Encode::encode_utf8($body) : $body // '';
    }
    my $r = $ApiClient->request($method, "$base$path", \%o);
    my $data = eval { decode_json($r->{content}) };
    return ($r->{status}, $data, $r->{content}, $r->{headers});
}

# a page as a browser asks for it, redirects not followed: (status, the
# page as text, headers); vbp_form posts PAIRS as a form does, with the
# session's _csrf
my $PageClient;

sub vbp_page {
    my ($base, $as, $path) = @_;
    require HTTP::Tiny;
    require Encode;
    $PageClient //= HTTP::Tiny->new(timeout => 20, max_redirect => 0);
    my $r = $PageClient->get("$base$path", { headers => { Cookie => "vbp_sid=$as->{sid}" } });
    return ($r->{status}, Encode::decode_utf8($r->{content}), $r->{headers});
}

sub vbp_form {
    my ($base, $as, $path, @pairs) = @_;
    require HTTP::Tiny;
    require Encode;
    $PageClient //= HTTP::Tiny->new(timeout => 20, max_redirect => 0);
    my $r = $PageClient->request('POST', "$base$path", {
        headers => { Cookie => "vbp_sid=$as->{sid}",
                     'Content-Type' => 'application/x-www-form-urlencoded' },
        content => $PageClient->www_form_urlencode([_csrf => $as->{csrf}, @pairs]) });
    return ($r->{status}, Encode::decode_utf8($r->{content}), $r->{headers});
}

# USERS made active with PASSWORD and signed in, each with no login lock
# left to stop it: (user => {sid, csrf}, ...)
sub vbp_sign_in {
    my ($password, @users) = @_;
    my %as;
    for my $user (@users) {
        vbp_setup("user $user password=$password must_change=0 status=active");
        vbp_sql("DELETE FROM login_locks");
        my $t = vbp_setup("login $user $password");
        $as{$user} = { sid => $t->{'@SID@'}, csrf => $t->{'@CSRF@'} };
    }
    return %as;
}

# a reporting project NAME of Liaoning with every window open from
# yesterday for ten days, COUNT catalog lines PREFIX001 ... (PER_CERT of
# them to a certificate), enrolled; its id
sub vbp_open_project {
    my ($name, $prefix, $count, $per_cert) = @_;
    vbp_sql("DELETE FROM projects WHERE name = '$name'");
    my @windows = map { ("now() - interval '1 day'", "now() + interval '10 days'") } 1 .. 4;
    vbp_sql("INSERT INTO projects (name, product_line, threshold_pct, file_opens, file_closes, city_opens,"
            . " city_closes, province_opens, province_closes, alliance_opens, alliance_closes)"
            . " SELECT '$name', 'ivd', 30, " . join(', ', @windows));
    my $pid = vbp_sql("SELECT id FROM projects WHERE name = '$name'");
    vbp_sql("INSERT INTO project_provinces (project_id, region_id) SELECT $pid, id FROM regions WHERE code = '210000'");
    vbp_sql("INSERT INTO catalog_lines (project_id, serial, category, subcategory, certificate, manufacturer,"
            . " product_name, spec, unit) SELECT $pid, '$prefix' || lpad(g::text, 3, '0'), '生化', '肝功能',"
            . " '国械注准$prefix' || ((g - 1) / $per_cert), '甲公司', '试剂' || g, '1盒', '盒'"
            . " FROM generate_series(1, $count) g");
    vbp_sql("SELECT vbp_project_enroll($pid)");
    return $pid;
}

# Requests fired at the same moment: a psql session holds LOCK (rows taken
# FOR UPDATE by a SELECT, e.g. "SELECT 1 FROM review_items WHERE id IN
# (1,2) FOR UPDATE") while each of REQUESTS ([$base, $as, METHOD, PATH,
# BODY], ...) is sent from a process of its own; once all of them wait in
# PostgreSQL for a lock (or WAIT seconds passed: a side that locks none of
# those rows runs through), the session commits and they race from the
# same line.  Returns each request's (status, data) in the order given.
sub vbp_race {
    my ($lock, @requests) = @_;
    require IPC::Open2;
    my $app = "vbp_race_$$";
    my $pid = IPC::Open2::open2(my $out, my $in, 'psql', '-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1',
                                '-d', "$Conninfo application_name=$app");
    print $in "BEGIN;\n$lock;\nSELECT 'locked';\n";
    $in->flush;
    my $said = <$out> // '';
    $said = <$out> // '' while $said ne '' && $said !~ /locked/;
    die "race: the blocker did not lock\n" unless $said =~ /locked/;
    my (@kids, @files);
    for my $i (0 .. $#requests) {
        my $file = "$VbpState/race.$$.$i";
        unlink $file;
        my $kid = fork // die "fork: $!\n";
        if (!$kid) {
            my ($st, $d) = vbp_api(@{ $requests[$i] });
            open my $fh, '>', $file or POSIX::_exit(1);
            print $fh JSON::PP->new->utf8->canonical->encode({ status => $st, data => $d });
            close $fh;
            POSIX::_exit(0);
        }
        push @kids, $kid;
        push @files, $file;
    }
    my $waiting = 0;
    for (1 .. 100) {
        $waiting = vbp_sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                           . " AND application_name <> '$app' AND datname = current_database()");
        last if $waiting >= @requests;
        sleep(0.05);
    }
    print $in "COMMIT;\n\\q\n";
    close $in;
    waitpid $pid, 0;
    waitpid $_, 0 for @kids;
    my @answers;
    for my $file (@files) {
        my $a = eval { decode_json(slurp($file)) } // { status => 0 };
        unlink $file;
        push @answers, [$a->{status}, $a->{data}];
    }
    return @answers;
}

# a browser journey (t/browser/SCRIPT) in headless chromium against an
# nginx of its own, with ENV for it: at least STEPS steps passed, none
# failed, and each of SHOTS saved under t/browser/output/ -- or the whole
# file skipped where chromium or playwright-core is missing
sub vbp_journey {
    my ($script, $steps, $shots, %env) = @_;
    Test::More::plan(skip_all => 'chromium or playwright-core missing (make deps installs them)')
        unless -x '/usr/bin/chromium' && -d "$VbpTop/t/browser/node_modules/playwright-core";
    my $base = vbp_nginx_start();
    local $ENV{BASE} = $base;
    local $ENV{REDIS_PORT} = $ENV{TEST_NGINX_REDIS_PORT};
    local $ENV{OUT} = "$VbpTop/t/browser/output";
    # the environment holds bytes: a test's Chinese text goes as UTF-8
    my @keys = sort keys %env;
    local @ENV{@keys} = map { my $v = $env{$_}; utf8::encode($v) if utf8::is_utf8($v); $v } @keys;
    my $timeout = $ENV{TEST_NGINX_USE_VALGRIND} ? 900 : 180;
    my @out = `cd $VbpTop/t/browser && timeout $timeout node $script 2>&1`;
    my $status = $?;
    vbp_nginx_stop();
    print map { "# $_" } @out;
    Test::More::cmp_ok(scalar(grep { /^ok / } @out), '>=', $steps, "every step of $script passed");
    Test::More::is(scalar(grep { /^not ok/ } @out), 0, '... no step failed');
    Test::More::is($status, 0, '... it exited 0');
    Test::More::ok(-s "$VbpTop/t/browser/output/$_.png", "... the $_ screenshot exists") for @$shots;
}

sub hash_password {
    my $p = shift;
    return $Hashes{$p} //= do {
        open my $h, '-|', "printf '%s\\n' '$p' | $VbpTop/build/vbp-worker hash"
            or die "hash: $!\n";
        my $s = <$h>;
        chomp $s;
        $s;
    };
}

sub vbp_sql {
    my $sql = shift;
    open my $h, '-|', 'psql', '-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1',
        '-d', $Conninfo, '-c', $sql or die "psql: $!\n";
    my @out = <$h>;
    close $h or die "sql failed: $sql\n";
    chomp @out;
    return wantarray ? @out : $out[0];
}

# one RESP command against the test Redis; returns the reply
sub vbp_redis {
    my @args = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $ENV{TEST_NGINX_REDIS_PORT},
                                     Timeout => 3) or die "redis: $!\n";
    my $cmd = '*' . @args . "\r\n";
    $cmd .= '$' . length($_) . "\r\n$_\r\n" for @args;
    print $sock $cmd;
    my $line = <$sock>;
    die "redis: no reply\n" unless defined $line;
    $line =~ s/\r\n$//;
    my $type = substr $line, 0, 1, '';
    if ($type eq '$') {
        return undef if $line < 0;
        read($sock, my $buf, $line + 2);
        return substr $buf, 0, $line;
    }
    if ($type eq '*') {
        my @items;
        for (1 .. $line) {
            my $l = <$sock>;
            $l =~ s/\r\n$//;
            read($sock, my $buf, substr($l, 1) + 2);
            push @items, substr $buf, 0, -2;
        }
        return \@items;
    }
    die "redis: $line\n" if $type eq '-';
    return $line;
}

# a minimal XLSX workbook (one sheet, shared and inline strings) with the
# given rows, as bytes; cells that look like numbers are stored as numbers
sub vbp_xlsx {
    my @rows = @_;
    my (@strings, %index, $sheet);
    my $esc = sub { my $s = shift; $s =~ s/&/&amp;/g; $s =~ s/</&lt;/g; $s };
    for my $r (0 .. $#rows) {
        my $n = $r + 1;
        $sheet .= qq{<row r="$n">};
        for my $c (0 .. $#{ $rows[$r] }) {
            my $v = $rows[$r][$c];
            my $ref = chr(ord('A') + $c) . $n;
            if ($v =~ /^\d{1,9}$/) {
                $sheet .= qq{<c r="$ref"><v>$v</v></c>};
            } elsif ($c % 2) {
                $index{$v} //= do { push @strings, $v; $#strings };
                $sheet .= qq{<c r="$ref" t="s"><v>$index{$v}</v></c>};
            } else {
                $sheet .= qq{<c r="$ref" t="inlineStr"><is><t>} . $esc->($v) . '</t></is></c>';
            }
        }
        $sheet .= '</row>';
    }
    return vbp_xlsx_raw($sheet, @strings);
}

# a workbook whose sheetData is the given XML, with the shared strings
sub vbp_xlsx_raw {
    my ($sheet, @strings) = @_;
    require IO::Compress::Zip;
    require Encode;
    my $esc = sub { my $s = shift; $s =~ s/&/&amp;/g; $s =~ s/</&lt;/g; $s };
    my $main = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
    my $rel = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
    my %parts = (
        '[Content_Types].xml' => '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        'xl/workbook.xml' => qq{<?xml version="1.0"?><workbook xmlns="$main" xmlns:r="$rel"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>},
        'xl/_rels/workbook.xml.rels' => qq{<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="$rel/worksheet" Target="worksheets/sheet1.xml"/></Relationships>},
        'xl/sharedStrings.xml' => qq{<?xml version="1.0"?><sst xmlns="$main">}
            . join('', map { '<si><t>' . $esc->($_) . '</t></si>' } @strings) . '</sst>',
        'xl/worksheets/sheet1.xml' => qq{<?xml version="1.0"?><worksheet xmlns="$main"><sheetData>$sheet</sheetData></worksheet>},
    );
    my $out = '';
    my $zip;
    for my $name (sort keys %parts) {
        if ($zip) {
            $zip->newStream(Name => $name);
        } else {
            $zip = IO::Compress::Zip->new(\$out, Name => $name, Minimal => 1)
                or die "zip: $IO::Compress::Zip::ZipError\n";
        }
        my $part = $parts{$name};
        $part = Encode::encode_utf8($part) if utf8::is_utf8($part);
        $zip->print($part);
    }
    $zip->close;
    return $out;
}

# a connection to the worker pool, or with reader => 1 to its read children
sub vbp_worker_socket {
    my %o = @_;
    my $to = $o{reader} ? $ENV{TEST_NGINX_VBP_READER} : $ENV{TEST_NGINX_VBP_WORKER};
    (my $path = $to) =~ s/^unix://;
    return IO::Socket::UNIX->new(Peer => $path, Type => SOCK_STREAM)
        || die "worker socket $path: $!\n";
}

# one frame to the worker pool, as the nginx module sends it
sub vbp_frame {
    my ($frame, %o) = @_;
    my $sock = vbp_worker_socket(%o);
    my $body = ref $frame ? encode_json($frame) : $frame;
    print $sock pack('N', length $body) . $body;
    return read_frame($sock);
}

# bytes as they are (a broken frame), then the end of the stream
sub vbp_raw_frame {
    my ($bytes, %o) = @_;
    my $sock = vbp_worker_socket(%o);
    print $sock $bytes;
    shutdown($sock, 1);
    return read_frame($sock);
}

sub read_frame {
    my $sock = shift;
    my $got = read($sock, my $head, 4);
    return undef unless $got && $got == 4;
    my $len = unpack 'N', $head;
    read($sock, my $body, $len) == $len or return undef;
    return decode_json($body);
}

1;
