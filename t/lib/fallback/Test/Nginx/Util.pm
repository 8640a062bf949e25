package Test::Nginx::Util;

# Fallback engine behind t/lib/fallback/Test/Nginx/Socket.pm.
#
# This is an independent, small re-implementation of the data-driven test
# runner known from CPAN's Test::Nginx::Socket.  It is only used when the
# real distribution is not installed (see t/lib/fallback/README).  The
# public behaviour (sections, environment variables, the number of
# assertions emitted per block) follows the real module so that the same
# .t files give the same TAP under both.

use strict;
use warnings;

our $VERSION = '0.01';

use Exporter 'import';
use File::Spec ();
use File::Path qw(make_path remove_tree);
use File::Find ();
use IO::Socket::INET ();
use IO::Select ();
use POSIX qw(:sys_wait_h);
use Errno qw(EAGAIN EWOULDBLOCK EINTR ECONNRESET EPIPE);
use List::Util qw(shuffle max);
use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(sleep time);
use HTTP::Response ();
use Test::More ();
use Test::LongString ();
use Carp qw(croak);

# ---------------------------------------------------------------------------
# Settings (same environment variables as the real module)
# ---------------------------------------------------------------------------

our $Verbose              = $ENV{TEST_NGINX_VERBOSE};
our $NginxBinary          = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $LoadModules          = $ENV{TEST_NGINX_LOAD_MODULES};
our $UseHup               = $ENV{TEST_NGINX_USE_HUP};
our $UseValgrind          = $ENV{TEST_NGINX_USE_VALGRIND};
our $Timeout              = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $TestNginxSleep       = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $LogLevel             = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $NoShuffle            = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $CheckAccumErrLog     = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $Randomize            = $ENV{TEST_NGINX_RANDOMIZE};
our $DaemonEnabled        = 'on';
our $Workers              = 1;
our $WorkerConnections    = 64;
our $RepeatEach           = 1;
our $NoLongString;
our $NoRootLocation       = 0;
our $ServerAddr           = '127.0.0.1';
our $ServerName           = 'localhost';
our $ServerPort           = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient  = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $ConfigPreamble       = '';
our $NginxVersion;
our $NginxRawVersion;

our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;
our @ResponseBodyChecks;

if ($UseValgrind && $UseHup) {
    warn "WARNING: TEST_NGINX_USE_VALGRIND and TEST_NGINX_USE_HUP are both "
        . "set; the fallback runner ignores TEST_NGINX_USE_HUP.\n";
    undef $UseHup;
}

if ($Randomize) {
    for (1 .. 200) {
        my $port = 20000 + int rand 30000;
        my $probe = IO::Socket::INET->new(LocalAddr => $ServerAddr,
                                          LocalPort => $port,
                                          Proto => 'tcp', ReuseAddr => 1);
        if ($probe) {
            close $probe;
            $ServerPort = $ServerPortForClient = $port;
            last;
        }
    }
}

our $ServRoot = $Randomize
    ? File::Spec->rel2abs("t/servroot_$ServerPort")
    : ($ENV{TEST_NGINX_SERVROOT}
       ? File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT})
       : File::Spec->rel2abs('t/servroot'));
$ServRoot =~ s{/+$}{};
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";
our $StderrFile = "$LogDir/nginx-stderr.log";

# runtime state
our $PrevConfig;            # config text of the server currently running
our $NginxPid;              # pid of the running nginx (master or single)
our $ChildPid;              # set when nginx runs in the foreground (valgrind)
our $ConfigVersion = '';    # HUP mode: value served on /ver
our $ErrLogFilePos = 0;
our $FirstTime = 1;
our $InSubprocess;
our $Started;               # true once this process has launched nginx
our $ConnectFailures = 0;
our $StartFailure;          # message when nginx could not be started
our $StartFailureShown;
our $PrevConfigBlock;       # block whose sections built the running config
our $ChildStatus;           # wait status of the foreground nginx once reaped

our @EXPORT = qw(
    run_tests run_test run_test_helper repeat_each no_shuffle no_long_string
    log_level master_on master_off master_process_enabled workers
    worker_connections env_to_nginx no_root_location server_name
    server_addr server_root html_dir server_port server_port_for_client
    timeout config_preamble use_hup add_block_preprocessor
    add_cleanup_handler add_response_body_check bail_out is_str
    check_accum_error_log error_log_data access_log_data parse_headers
    parse_time trim show_all_chars sleep_time verbose is_running
    get_pid_from_pidfile
    $ServerPort $ServerPortForClient $ServerAddr $ServerName $ServRoot
    $HtmlDir $LogDir $ErrLogFile $AccLogFile $ConfFile $PidFile
    $NginxBinary $NginxVersion $RepeatEach $NoLongString
);

# ---------------------------------------------------------------------------
# Small public setters/getters
# ---------------------------------------------------------------------------

sub repeat_each { $RepeatEach = shift if @_; return $RepeatEach }
sub no_shuffle { $NoShuffle = 1 }
sub no_long_string { $NoLongString = 1 }
sub no_root_location { $NoRootLocation = 1 }
sub use_hup { $UseHup = 1 unless $UseValgrind }
sub check_accum_error_log { $CheckAccumErrLog = 1 }
sub master_on { $MasterProcessEnabled = 'on' }
sub master_off { $MasterProcessEnabled = 'off' }
sub config_preamble { $ConfigPreamble = shift // '' }
sub server_root { $ServRoot }
sub html_dir { $HtmlDir }
sub sleep_time { $TestNginxSleep }
sub verbose { $Verbose }

sub master_process_enabled {
    if (@_) { $MasterProcessEnabled = $_[0] ? 'on' : 'off'; return }
    return $MasterProcessEnabled;
}

sub log_level { $LogLevel = shift if @_; return $LogLevel }
sub workers { $Workers = shift if @_; return $Workers }
sub worker_connections { $WorkerConnections = shift if @_; return $WorkerConnections }
sub timeout { $Timeout = shift if @_; return $Timeout }
sub server_name { $ServerName = shift if @_; return $ServerName }
sub server_addr { $ServerAddr = shift if @_; return $ServerAddr }

sub server_port {
    if (@_) {
        $ServerPort = shift;
        $ServerPortForClient = $ServerPort unless $ENV{TEST_NGINX_CLIENT_PORT};
    }
    return $ServerPort;
}

sub server_port_for_client {
    $ServerPortForClient = shift if @_;
    return $ServerPortForClient;
}

sub env_to_nginx {
    croak "env_to_nginx: no arguments specified" unless @_;
    for my $v (@_) {
        croak "env_to_nginx: bad argument value: $v"
            if !defined $v || $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler { unshift @CleanupHandlers, shift }
sub add_response_body_check { push @ResponseBodyChecks, shift }

sub bail_out {
    my @msg = @_;
    cleanup();
    stop_nginx('bail_out') if $Started;
    Test::More::BAIL_OUT(join '', @msg);
}

sub is_str {
    my ($got, $expected, $desc) = @_;
    return Test::More::like($got, $expected, $desc)
        if ref $expected && ref $expected eq 'Regexp';
    return Test::More::is($got, $expected, $desc) if $NoLongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

sub parse_time {
    my $t = shift;
    return undef unless defined $t;
    $t =~ s/^\s+|\s+$//g;
    if ($t =~ /^(\d+(?:\.\d*)?|\.\d+)ms$/) { return $1 / 1000 }
    if ($t =~ /^(\d+(?:\.\d*)?|\.\d+)s$/)  { return $1 }
    return $t;
}

sub trim {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\s+/ /g;
    return $s;
}

sub show_all_chars {
    my $s = shift;
    $s =~ s/\n/\\n/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\t/\\t/g;
    return $s;
}

sub _fmt {
    my $s = shift;
    $s = "$s";
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub _skip {
    my ($why) = @_;
    Test::More->builder->skip($why);
}

# ---------------------------------------------------------------------------
# Process helpers
# ---------------------------------------------------------------------------

sub is_running {
    my $pid = shift;
    return 0 unless $pid && $pid =~ /^\d+$/;
    if (defined $ChildPid && $pid == $ChildPid) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid || $r == -1) {
            $ChildStatus = $r == $pid ? $? : 0;
            undef $ChildPid;
            return 0;
        }
    }
    return 0 unless kill 0, $pid;
    if (open my $st, '<', "/proc/$pid/stat") {
        my $line = <$st> // '';
        close $st;
        return 0 if $line =~ /^\d+ \(.*\) [ZX] /s;
    }
    return 1;
}

sub _looks_like_nginx {
    my $pid = shift;
    return 1 if defined $ChildPid && $pid == $ChildPid;
    open my $in, '<', "/proc/$pid/cmdline" or return 1;   # no procfs: trust
    local $/;
    my $cmd = <$in> // '';
    close $in;
    return $cmd =~ /nginx|valgrind|memcheck/ ? 1 : 0;
}

sub get_pid_from_pidfile {
    open my $in, '<', $PidFile or return undef;
    local $/;
    my $pid = <$in> // '';
    close $in;
    $pid =~ s/\s+//g;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

sub _wait_until {
    my ($limit, $cond) = @_;
    my $end = time + $limit;
    my $step = 0.005;
    while (1) {
        return 1 if $cond->();
        return 0 if time >= $end;
        sleep $step;
        $step *= 1.5;
        $step = 0.1 if $step > 0.1;
    }
}

sub _port_listening {
    my $port = shift;
    my $hex = sprintf '%04X', $port;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $in, '<', $f or next;
        while (my $line = <$in>) {
            my @c = split ' ', $line;
            next unless @c > 3 && $c[3] eq '0A';
            return 1 if $c[1] =~ /:$hex$/;
        }
        close $in;
    }
    return 0;
}

sub _slurp {
    my $file = shift;
    open my $in, '<', $file or return '';
    local $/;
    my $s = <$in> // '';
    close $in;
    return $s;
}

sub stop_nginx {
    my ($name, $grace) = @_;
    $name //= '';
    $grace //= $UseValgrind ? max(20, $Timeout) : $Timeout;
    my $pid = get_pid_from_pidfile() // $NginxPid // $ChildPid;

    if ($pid && is_running($pid) && _looks_like_nginx($pid)) {
        warn "stopping nginx $pid\n" if $Verbose;
        kill 'QUIT', $pid;
        # re-send now and then: a signal that arrives while nginx is still
        # starting up (slow under valgrind) can get lost
        my $next_quit = time + 1;
        unless (_wait_until($grace, sub {
                    return 1 unless is_running($pid);
                    if (time >= $next_quit) {
                        kill 'QUIT', $pid;
                        $next_quit = time + 1;
                    }
                    return 0;
                }))
        {
            warn "WARNING: $name - nginx $pid did not exit within ${grace}s "
                . "after SIGQUIT; killing it\n";
            my $pg = getpgrp($pid);
            kill 'KILL', -$pid if defined $pg && $pg == $pid;
            kill 'KILL', $pid;
            _wait_until(3, sub { !is_running($pid) });
        }
    }

    if (defined $ChildPid) {
        if (is_running($ChildPid)) {
            kill 'KILL', $ChildPid;
            _wait_until(2, sub { !is_running($ChildPid) });
        }
        waitpid($ChildPid, WNOHANG) if defined $ChildPid;
        undef $ChildPid;
    }

    unlink $PidFile if -f $PidFile;
    undef $NginxPid;
}

sub cleanup {
    for my $hdl (@CleanupHandlers) {
        eval { $hdl->() };
        warn "cleanup handler failed: $@" if $@;
    }
}

END {
    unless ($InSubprocess) {
        local $?;
        cleanup();
        if ($Started && ($UseValgrind || !$ENV{TEST_NGINX_NO_CLEAN})) {
            stop_nginx('END');
        }
    }
}

for my $sig (qw(INT TERM HUP)) {
    if (!defined $SIG{$sig} || $SIG{$sig} eq '' || $SIG{$sig} eq 'DEFAULT') {
        $SIG{$sig} = sub { warn "caught SIG$sig, stopping nginx\n"; exit 1 };
    }
}

sub can_run {
    my $cmd = shift;
    if ($cmd =~ m{/}) {
        return (-f $cmd && -x _) ? $cmd : undef;
    }
    for my $dir (split /:/, $ENV{PATH} // '') {
        next if $dir eq '';
        return "$dir/$cmd" if -f "$dir/$cmd" && -x _;
    }
    return undef;
}

sub get_nginx_version {
    my $bin = can_run($NginxBinary)
        or bail_out("Cannot find the nginx executable \"$NginxBinary\" "
                    . "(set TEST_NGINX_BINARY or PATH)");
    my $out = `'$bin' -V 2>&1`;
    if ($? != 0 || !defined $out) {
        bail_out("Failed to run \"$bin -V\": " . ($out // ''));
    }
    if ($out =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}s
        || $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)}s)
    {
        $NginxRawVersion = "$1.$2.$3";
        $NginxVersion = sprintf '%d.%03d%03d', $1, $2, $3;
    }
    return $NginxVersion;
}

# ---------------------------------------------------------------------------
# Server root, config, user files
# ---------------------------------------------------------------------------

sub expand_env_in_text {
    my ($text, $name, $rand_ports) = @_;
    return undef unless defined $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $val = $rand_ports->{$var} //= _free_port($name, $rand_ports);
        } else {
            bail_out("$name - No environment $var defined.\n")
                unless defined $ENV{$var};
            $val = $ENV{$var};
        }
        $val;
    }ge;
    return $text;
}

sub _free_port {
    my ($name, $used) = @_;
    my %taken = map { $_ => 1 } $ServerPort, values %$used;
    for (1 .. 1000) {
        my $port = 1985 + int rand 60000;
        next if $taken{$port};
        my $s = IO::Socket::INET->new(LocalAddr => $ServerAddr,
                                      LocalPort => $port, Proto => 'tcp');
        if ($s) { close $s; return $port }
    }
    bail_out("$name - Cannot find a free port");
}

sub setup_server_root {
    my ($reload) = @_;
    if (-d $ServRoot) {
        if ($reload) {
            # HUP mode: keep the pid file (and sockets/certs), drop the rest
            File::Find::find({ no_chdir => 1, wanted => sub {
                return if -d $_;
                return if /(?:\bnginx\.pid|\.sock|\.crt|\.key)$/;
                unlink $_ or warn "Failed to remove $_: $!\n";
            } }, $ServRoot);
        } else {
            remove_tree($ConfDir, $HtmlDir, $LogDir,
                        glob("$ServRoot/*_temp"), glob("$ServRoot/*_cache"));
        }
    }
    for my $d ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        next if -d $d;
        make_path($d);
        bail_out("Failed to create directory $d: $!") unless -d $d;
    }
    open my $out, '>', "$HtmlDir/index.html"
        or bail_out("Can't open $HtmlDir/index.html for writing: $!");
    print $out '<html><head><title>It works!</title></head>'
             . '<body>It works!</body></html>';
    close $out;
}

sub write_user_files {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $files = $block->user_files;
    return unless $files;

    if (!ref $files) {
        my @list;
        my ($fname, $body, $date);
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$fname, $body, $date] if defined $fname;
                ($fname, $date, $body) = ($1, $2, undef);
                $date =~ s/\s+$// if defined $date;
            } else {
                $body .= $line;
            }
        }
        push @list, [$fname, $body, $date] if defined $fname;
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - --- user_files: only a string or an ARRAY is accepted");
    }

    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        $body //= '';
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{^(.*)/[^/]*$} && !-d $1) {
            make_path($1);
            bail_out("$name - Cannot create directory $1") unless -d $1;
        }
        $body = expand_env_in_text($body, $name, $rand_ports);
        open my $out, '>', $path
            or bail_out("$name - Cannot open $path for writing: $!");
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0
                or bail_out("$name - touch -t '$date' $path failed");
        }
    }
}

sub _effective_master {
    return 'on' if $UseHup;
    return 'off' if $UseValgrind;
    return $MasterProcessEnabled;
}

sub write_config_file {
    my ($block, $config, $rand_ports, $no_hup_server) = @_;
    my $name = $block->name;

    my $main_config = expand_env_in_text($block->main_config // '', $name, $rand_ports);
    my $http_config = expand_env_in_text($block->http_config // '', $name, $rand_ports);
    my $post_main   = expand_env_in_text($block->post_main_config // '', $name, $rand_ports);
    $config //= '';
    my $server_name = $block->server_name // $ServerName;
    (my $qname = $server_name) =~ s/(['\\])/\\$1/g;
    my $log_level = $block->log_level || $LogLevel;
    my $daemon = $UseValgrind ? 'off' : $DaemonEnabled;
    my $master = _effective_master();

    my $modules = '';
    if ($LoadModules) {
        $modules = join '', map { "load_module $_;\n" } grep { length } split /\s+/, $LoadModules;
    }

    my $env = join '', map { my $v = $_; $v = "'$v'" if $v =~ /\s/; "env $v;\n" } @EnvToNginx;

    my $temp = '';
    my $all_user = "$main_config\n$http_config\n$config";
    for my $t (qw(client_body proxy fastcgi uwsgi scgi)) {
        next if $all_user =~ /\b${t}_temp_path\b/;
        $temp .= "    ${t}_temp_path $ServRoot/${t}_temp;\n";
    }

    my $root_loc = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    my $hup_server = '';
    if ($UseHup && !$no_hup_server) {
        $hup_server = <<"_EOC_";
    server {
        listen          $ServerAddr:$ServerPort;
        server_name     'Test-Nginx';
        location = /ver {
            return 200 '$ConfigVersion';
        }
    }
_EOC_
    }

    my $user = $> == 0 ? "user root;\n" : '';

    open my $out, '>', $ConfFile
        or bail_out("$name - Can't open $ConfFile for writing: $!");
    print $out <<"_EOC_";
${modules}worker_processes  $Workers;
daemon $daemon;
master_process $master;
error_log $ErrLogFile $log_level;
pid       $PidFile;
$env
$main_config

http {
    access_log $AccLogFile;
    default_type text/plain;
    keepalive_timeout  68;
$temp
$http_config

    server {
        listen          $ServerAddr:$ServerPort;
        server_name     '$qname';

        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_loc    }
$hup_server}

$post_main

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
}
$user
_EOC_
    close $out;
}

# ---------------------------------------------------------------------------
# Starting nginx
# ---------------------------------------------------------------------------

# Returns (exit_status, stderr_text, failure_kind). exit_status is the raw
# wait status (0 on success); failure_kind is 'exec', 'timeout' or undef.
sub start_nginx {
    my ($name, $for_must_die) = @_;

    my $bin = can_run($NginxBinary)
        or bail_out("$name - Cannot find the nginx executable \"$NginxBinary\"");
    my @cmd = ($bin, '-p', "$ServRoot/", '-c', $ConfFile);
    my $valgrind = $UseValgrind && !$for_must_die;
    if ($valgrind) {
        my @opts;
        if ($UseValgrind =~ /^\d+$/) {
            @opts = ('--tool=memcheck', '--leak-check=full', '--num-callers=30');
            push @opts, '--suppressions=valgrind.suppress' if -f 'valgrind.suppress';
        } else {
            @opts = split ' ', $UseValgrind;
        }
        # options that name their own log file keep it (make test-valgrind
        # reads them all at the end); the others log where we look
        push @opts, "--log-file=$LogDir/valgrind.%p.log"
            unless grep { /^--log-file=/ } @opts;
        @cmd = ('valgrind', @opts, @cmd);
    }

    warn "starting: @cmd\n" if $Verbose;
    unlink $StderrFile;
    $Started = 1;

    my $pid = fork;
    bail_out("$name - fork() failed: $!") unless defined $pid;
    if ($pid == 0) {
        $InSubprocess = 1;
        setpgrp(0, 0) if $valgrind;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $StderrFile;
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "failed to execute @cmd: $!\n";
        POSIX::_exit(127);
    }

    if ($valgrind) {
        $ChildPid = $NginxPid = $pid;
        my $up = _wait_until(60, sub {
            !is_running($pid) || _port_listening($ServerPort)
        });
        if (!is_running($pid)) {
            my $st = $ChildStatus // 0;
            undef $ChildPid;
            undef $NginxPid;
            return ($st || 1 << 8, _slurp($StderrFile), undef);
        }
        if (!$up) {
            return (-1, _slurp($StderrFile) . "nginx (under valgrind) did not "
                    . "start listening on port $ServerPort within 60s\n", 'timeout');
        }
        _wait_until(5, sub { defined get_pid_from_pidfile() });
        return (0, _slurp($StderrFile), undef);
    }

    # daemon mode: the launched process exits once nginx has daemonized
    my $status;
    my $limit = 10 + $Timeout;
    if (_wait_until($limit, sub {
            my $r = waitpid($pid, WNOHANG);
            if ($r == $pid) { $status = $?; return 1 }
            if ($r == -1) { $status = 0; return 1 }
            return 0;
        }))
    {
        my $err = _slurp($StderrFile);
        if ($status == 127 << 8 && $err =~ /^failed to execute/) {
            return ($status, $err, 'exec');
        }
        if ($status == 0) {
            _wait_until(5, sub {
                my $p = get_pid_from_pidfile();
                return $p && is_running($p);
            });
            $NginxPid = get_pid_from_pidfile();
            _wait_until(3, sub { _port_listening($ServerPort) });
        }
        return ($status, $err, undef);
    }

    kill 'KILL', $pid;
    waitpid($pid, 0);
    return (-1, _slurp($StderrFile) . "nginx did not return within ${limit}s\n",
            'timeout');
}

sub _error_log_problems {
    my @lines;
    if (open my $in, '<', $ErrLogFile) {
        while (my $l = <$in>) {
            push @lines, $l if $l =~ /\[(?:emerg|alert|crit)\]/;
        }
        close $in;
    }
    splice @lines, 0, @lines - 10 if @lines > 10;
    return join '', @lines;
}

sub _wait_config_version {
    my ($name) = @_;
    my $ok = 0;
    my $end = time + max(10, 3 * $Timeout);
    while (time < $end) {
        my $ver = _simple_get('/ver', 'Test-Nginx');
        if (defined $ver && $ver eq $ConfigVersion) {
            return 1 if ++$ok >= 5;
            sleep $TestNginxSleep;
            next;
        }
        $ok = 0;
        sleep 0.05;
    }
    Test::More::fail("$name - failed to reload the nginx configuration via HUP "
                     . "(see $ErrLogFile)");
    return 0;
}

sub _simple_get {
    my ($uri, $host) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                     PeerPort => $ServerPortForClient,
                                     Proto => 'tcp', Timeout => 1)
        or return undef;
    local $SIG{PIPE} = 'IGNORE';
    print $sock "GET $uri HTTP/1.0\r\nHost: $host\r\nConnection: close\r\n\r\n";
    my $resp = '';
    my $sel = IO::Select->new($sock);
    my $end = time + 1;
    while (time < $end && $sel->can_read(1)) {
        my $n = sysread($sock, my $buf, 4096);
        last unless $n;
        $resp .= $buf;
    }
    close $sock;
    return undef unless $resp =~ m{^HTTP/\S+ 200 .*?\r\n\r\n(.*)\z}s;
    return $1;
}

my %ValgrindSeen;

sub _valgrind_logs {
    my ($given) = grep { /^--log-file=/ } split ' ', ($UseValgrind // '');
    return glob("$LogDir/valgrind.*.log") unless $given;
    (my $glob = $given) =~ s/^--log-file=//;
    $glob =~ s/%p/*/g;
    # the given files collect every block's: each is read once
    return grep { !$ValgrindSeen{$_}++ } glob($glob);
}

sub _check_valgrind_logs {
    my ($name) = @_;
    my @found;
    for my $f (sort(_valgrind_logs())) {
        my $text = _slurp($f);
        my @bad;
        my @paras = split /\n(?===\d+==\s*\n)/, $text;
        for my $p (@paras) {
            if ($p =~ /are definitely lost in loss record/
                || $p =~ /Invalid (?:read|write|free)/
                || $p =~ /uninitialised/)
            {
                push @bad, $p;
            }
        }
        if (@bad) {
            my $excerpt = join "\n", @bad[0 .. ($#bad < 4 ? $#bad : 4)];
            push @found, "$f:\n$excerpt";
        }
    }
    if (@found) {
        Test::More::fail("$name - valgrind reported memory errors");
        Test::More::diag(join "\n", @found);
    }
}

# ---------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------

sub error_log_data {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogFilePos, 0 if !$CheckAccumErrLog && $ErrLogFilePos > 0;
    my @lines = <$in>;
    $ErrLogFilePos = tell $in unless $CheckAccumErrLog;
    close $in;
    return \@lines;
}

sub access_log_data {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $AccLogFile or return [];
    my @lines = <$in>;
    close $in;
    return \@lines;
}

# ---------------------------------------------------------------------------
# The test driver
# ---------------------------------------------------------------------------

sub run_tests {
    get_nginx_version();
    $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
        unless defined $ENV{TEST_NGINX_SERVER_PORT};

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value('name', "$0 " . $block->name);
        run_test($block);
    }

    cleanup();
}

sub _skip_spec {
    my ($block) = @_;
    my $name = $block->name;

    if (defined(my $spec = $block->skip_nginx)) {
        $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/s
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        my ($n, $op, $want) = ($1, $2, sprintf('%d.%03d%03d', $3, $4, $5));
        my $why = $6 || "nginx version $op $3.$4.$5";
        my $hit = defined $NginxVersion
            ? eval "$NginxVersion $op $want"
            : $op =~ /^</;
        return ($n, $why) if $hit;
        return;
    }

    if (defined(my $spec = $block->skip_eval)) {
        $spec =~ /^\s*(\d+)\s*:\s*(.*)$/s
            or bail_out("$name - Invalid --- skip_eval spec: $spec");
        my ($n, $code) = ($1, $2);
        my $hit = eval $code;
        bail_out("$name - skip_eval - failed to eval \"$code\": $@") if $@;
        return ($n, 'skip_eval') if $hit;
    }
    return;
}

sub run_test {
    my ($block) = @_;
    my $name = $block->name;
    return if defined $block->SKIP;

    my $first_time = $FirstTime;
    undef $FirstTime;

    my $rand_ports = {};
    my $must_die = $block->must_die;
    my $config = $block->config;
    $config = '' if !defined $config && defined $must_die;
    $config = expand_env_in_text($config, $name, $rand_ports);

    if (my ($nskip, $why) = _skip_spec($block)) {
        for (1 .. $RepeatEach) {
            _skip("$name - $why") for 1 .. $nskip;
        }
        return;
    }

    local $UseHup = $UseHup;
    local $UseValgrind = $UseValgrind;
    if (defined $must_die) {
        undef $UseHup;
        undef $UseValgrind;
    }

    undef $StartFailure;

    my $cfg_block = $block;
    if (!defined $config) {
        # like the real module: no --- config means "reuse the running server"
        bail_out("$name - No '--- config' section specified and could not get "
                 . "previous one.") unless defined $PrevConfig;
        if (defined $block->http_config || defined $block->main_config) {
            Test::More::diag("$name - has no --- config section: the previous "
                             . "server is reused and its http_config/main_config "
                             . "sections are ignored (as in Test::Nginx)");
        }
        my $pid = get_pid_from_pidfile();
        goto REQUEST if $pid && is_running($pid);
        # the server is gone (e.g. valgrind mode stops it after each block):
        # start it again with the previous block's configuration
        $config = $PrevConfig;
        $cfg_block = $PrevConfigBlock // $block;
    } else {
        $PrevConfig = $config;
        $PrevConfigBlock = $block;
    }

    # ---- (re)start or reload nginx ----

    if ($first_time) {
        my $stale = get_pid_from_pidfile();
        if ($stale && is_running($stale) && _looks_like_nginx($stale)) {
            warn "WARNING: $name - stopping a stale nginx ($stale) left in $ServRoot\n";
        }
        stop_nginx($name) if $stale;
    }

    if ($UseHup && !$first_time) {
        my $pid = get_pid_from_pidfile();
        if ($pid && is_running($pid)) {
            $ConfigVersion = join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 10;
            setup_server_root(1);
            write_user_files($block, $rand_ports);
            write_config_file($cfg_block, $config, $rand_ports);
            kill 'USR1', $pid;
            sleep $TestNginxSleep;
            kill 'HUP', $pid;
            sleep $TestNginxSleep * 3;
            _wait_config_version($name);
            $ErrLogFilePos = 0;
            goto REQUEST;
        }
    }

    stop_nginx($name);
    $ConfigVersion = join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 10
        if $UseHup;
    setup_server_root(0);
    write_user_files($block, $rand_ports);
    write_config_file($cfg_block, $config, $rand_ports);
    $ErrLogFilePos = 0;

    if (defined $must_die) {
        for my $i (0 .. $RepeatEach - 1) {
            my ($status, $stderr, $kind) = start_nginx($name, 1);
            my $exit = $status > 0 ? $status >> 8 : $status;
            if (defined $kind && $kind eq 'exec') {
                Test::More::fail("$name - failed to execute the nginx command line");
                Test::More::diag($stderr);
            } elsif ($status > 0 && ($status & 127)) {
                Test::More::fail("$name - nginx was killed by signal "
                                 . ($status & 127)
                                 . (($status & 128) ? ' (core dumped)' : ''));
            } elsif (looks_like_number($must_die)) {
                Test::More::is($exit, $must_die,
                               "$name - die with the expected exit code");
            } else {
                Test::More::isnt($status, 0, "$name - die as expected")
                    or Test::More::diag("nginx started although --- must_die "
                                        . "was given; config: $ConfFile");
            }
            my @extra = map { "$_\n" } split /\n/, $stderr;
            check_error_log($block, undef, undef, $i, 0, \@extra);
            if ($status == 0) {
                warn "WARNING: $name - nginx must die but it does not; killing it\n";
                stop_nginx($name);
            }
        }
        return;
    }

    {
        my ($status, $stderr, $kind);
        my $waited = 0;
        while (1) {
            ($status, $stderr, $kind) = start_nginx($name, 0);
            last if $status == 0;
            my $why = $stderr . _error_log_problems();
            last unless $why =~ /Address already in use/ && $waited < 5;
            sleep 0.5;
            $waited += 0.5;
        }

        if ($status == 0) {
            print STDERR $stderr if length $stderr;
        } else {
            my $code = $status > 0 ? 'exit status ' . ($status >> 8)
                                   : 'timed out';
            my $msg = "nginx failed to start ($code): $ConfFile\n";
            $msg .= "stderr:\n$stderr" if length $stderr;
            my $logged = _error_log_problems();
            $msg .= "error.log:\n$logged" if length $logged;
            $StartFailure = $msg;
            $StartFailureShown = 0;
            stop_nginx($name);
        }
    }

  REQUEST:
    if (!defined $StartFailure && defined $block->init) {
        eval scalar($block->init);
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;
    for my $i (1 .. $RepeatEach) {
        write_user_files($block, $rand_ports) if $i > 1 && !defined $StartFailure;
        if (defined $StartFailure) {
            run_test_helper($block, 'nginx failed to start', $i - 1);
        } else {
            run_test_helper($block, undef, $i - 1);
        }
    }

    if (defined $StartFailure) {
        undef $StartFailure;
        return;
    }

    if ($UseValgrind) {
        stop_nginx($name);
        _check_valgrind_logs($name);
    }
}

# ---------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------

sub _parse_more_headers {
    my ($text) = @_;
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $text // '') {
        $line =~ s/\r$//;
        next if $line =~ /^\s*#/ || $line !~ /\S/;
        my ($k, $v) = split /:\s*/, $line, 2;
        $v //= '';
        $chunked = 1 if lc($k) eq 'transfer-encoding' && $v eq 'chunked';
        $out .= "$k: $v\r\n";
    }
    return ($out, $chunked);
}

# Builds the bytes of one request from the "--- request" mini language.
# $pieces: list of strings (packet boundaries) whose concatenation is the
# request text.  Returns the list of packets to send.
sub _build_request {
    my ($name, $hdr, $chunked, $conn, $pieces) = @_;
    my $text = join '', @$pieces;

    $text =~ /\A([^\n]*)(\n|\z)/ or bail_out("$name - Request line should be non-empty");
    my ($first, $nl) = ($1, $2);
    my $first_len = length($first) + length($nl);
    bail_out("$name - Request line should be non-empty") if $first !~ /\S/;
    my @parts = split ' ', $first;
    bail_out("$name - Request line is not valid. Should be 'meth [url [version]]' "
             . "but got \"$first\".") if @parts > 3;
    my ($meth, $url, $ver) = @parts;
    $url //= '/';
    $ver //= 'HTTP/1.1';

    my $content = substr $text, $first_len;
    my $lead_trim = 0;
    my $len_header = '';
    if (!$chunked && $content ne '' && $hdr !~ /(?:^|\n)Content-Length:/) {
        my $orig = $content;
        $content =~ s/^\s+//;
        $lead_trim = length($orig) - length($content);
        $content =~ s/\s+$//;
        $len_header = 'Content-Length: ' . length($content) . "\r\n";
    }

    my $headers = '';
    $headers .= "Host: $ServerName\r\n" if $hdr !~ /(?:^|\n)Host:/i;
    $headers .= "Connection: $conn\r\n" if $hdr !~ /(?:^|\n)Connection/i;
    $headers .= "$hdr$len_header\r\n";

    my $head = "$meth $url $ver\r\n$headers";
    return [$head . $content] if @$pieces <= 1;

    # keep the caller's packet boundaries inside the body
    my @out;
    my $pos = 0;
    my $cur = $head;
    my $body_off = $first_len + $lead_trim;
    for my $p (@$pieces) {
        my $end = $pos + length $p;
        my $from = max($pos, $body_off) - $body_off;
        my $to   = max($end, $body_off) - $body_off;
        $from = length $content if $from > length $content;
        $to   = length $content if $to > length $content;
        $cur .= substr($content, $from, $to - $from);
        push @out, $cur;
        $cur = '';
        $pos = $end;
    }
    return \@out;
}

# Returns a list of requests; each request is a list of packets
# { value => bytes, delay_before => seconds }.
sub get_req_from_block {
    my ($block) = @_;
    my $name = $block->name;
    my @reqs;

    if (defined $block->raw_request) {
        my $raw = $block->raw_request;
        if (ref $raw eq 'ARRAY') {
            push @reqs, [map { ref $_ eq 'HASH' ? {%$_} : { value => $_ } } @$raw];
        } else {
            push @reqs, [{ value => $raw }];
        }
        return \@reqs;
    }

    my $more = $block->more_headers // '';
    my $hdr_for = sub {
        my ($i) = @_;
        if (ref $more eq 'ARRAY') {
            bail_out("$name - --- more_headers lacks data for request $i")
                unless defined $more->[$i];
            return _parse_more_headers($more->[$i]);
        }
        return _parse_more_headers($more);
    };

    if (my $pl = $block->pipelined_requests) {
        bail_out("$name - invalid entries in --- pipelined_requests")
            unless ref $pl eq 'ARRAY';
        my $all = '';
        for my $i (0 .. $#$pl) {
            my ($hdr, $chunked) = $hdr_for->($i);
            my $conn = $i == $#$pl ? 'close' : 'keep-alive';
            $all .= _build_request($name, $hdr, $chunked, $conn, [$pl->[$i]])->[0];
        }
        return [[{ value => $all }]];
    }

    my $request = $block->request;
    bail_out("$name - request empty") unless defined $request;

    if (!ref $request) {
        1 while $request =~ s/\A\s*#[^\n]*\n// || $request =~ s/\A\s+//;
        my ($hdr, $chunked) = $hdr_for->(0);
        push @reqs, [{ value => _build_request($name, $hdr, $chunked, 'close',
                                               [$request])->[0] }];
        return \@reqs;
    }

    bail_out("$name - invalid --- request: MUST be a string or an array of requests")
        unless ref $request eq 'ARRAY';

    for my $i (0 .. $#$request) {
        my $one = $request->[$i];
        my ($hdr, $chunked) = $hdr_for->($i);
        if (!ref $one) {
            push @reqs, [{ value => _build_request($name, $hdr, $chunked,
                                                   'close', [$one])->[0] }];
        } elsif (ref $one eq 'ARRAY') {
            my @vals = map {
                !ref $_ ? $_
                : ref $_ eq 'HASH' ? $_->{value}
                : bail_out("$name - a packet must be a string or a hash with value")
            } @$one;
            my $built = _build_request($name, $hdr, $chunked, 'close', \@vals);
            my @pk;
            for my $k (0 .. $#$built) {
                my %p = ref $one->[$k] eq 'HASH' ? %{ $one->[$k] } : ();
                $p{value} = $built->[$k];
                push @pk, \%p;
            }
            push @reqs, \@pk;
        } else {
            bail_out("$name - a request must be a string or an array of packets");
        }
    }
    return \@reqs;
}

sub _connect {
    my ($name, $timeout) = @_;
    my $end = time + max($timeout, 1) + 2;
    my $step = $TestNginxSleep;
    my $err;
    while (1) {
        my $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                         PeerPort => $ServerPortForClient,
                                         Proto => 'tcp',
                                         Timeout => $timeout);
        return $sock if $sock;
        $err = $@ || $!;
        last if time >= $end;
        sleep $step;
        $step *= 2;
        $step = 0.5 if $step > 0.5;
    }
    my $msg = "$name - Can't connect to $ServerAddr:$ServerPortForClient: $err (aborted)";
    if (++$ConnectFailures >= 3) {
        bail_out("$msg\n");
    }
    Test::More::fail($msg);
    return undef;
}

# Sends one request (list of packets); returns (raw_response, is_head).
sub send_request {
    my ($packets, $middle_delay, $timeout, $block) = @_;
    my $name = $block->name;
    my @queue = map { {%$_} } @$packets;
    my $all = join '', map { $_->{value} // '' } @queue;
    my $head_req = $all =~ /\A\s*HEAD\s+/ ? 1 : 0;

    my $sock = _connect($name, $timeout) or return (undef, $head_req);
    $sock->blocking(0);
    local $SIG{PIPE} = 'IGNORE';

    my $cur = shift @queue;
    my $buf = $cur->{value} // '';
    my $off = 0;
    my $writing = 1;
    my $resp = '';
    my $sel = IO::Select->new($sock);
    my $hard_end = time + max(30, 10 * $timeout);

    while (1) {
        my ($r, $w) = IO::Select->select($sel, $writing ? $sel : undef, undef, $timeout);
        if (!$r && !$w) {
            if (!defined $block->abort) {
                Test::More::fail("ERROR: client socket timed out - $name");
                Test::More::diag("no data from nginx for ${timeout}s; got so far: "
                                 . length($resp) . " bytes");
            }
            last;
        }

        if ($w && @$w) {
            if ($off < length $buf) {
                my $n = syswrite($sock, $buf, length($buf) - $off, $off);
                if (defined $n) {
                    $off += $n;
                } elsif ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
                    warn "WARNING: $name - write failed: $!\n"
                        unless $! == EPIPE || $! == ECONNRESET;
                    $writing = 0;
                }
            }
            if ($writing && $off >= length $buf) {
                if (@queue) {
                    $cur = shift @queue;
                    my $delay = $cur->{delay_before} // $middle_delay;
                    sleep parse_time($delay) if $delay;
                    $buf = $cur->{value} // '';
                    $off = 0;
                } else {
                    $writing = 0;
                    if (defined(my $how = $block->shutdown)) {
                        $how = 1 if $how !~ /\S/;
                        shutdown($sock, $how);
                    }
                }
            }
        }

        if ($r && @$r) {
            my $n = sysread($sock, my $chunk, 65536);
            if (!defined $n) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                warn "WARNING: $name - HTTP response read failure: $!\n"
                    unless $! == ECONNRESET;
                last;
            }
            last if $n == 0;
            $resp .= $chunk;
        }

        if (time > $hard_end) {
            Test::More::fail("ERROR: client socket: response not finished after "
                             . max(30, 10 * $timeout) . "s - $name");
            last;
        }
    }
    close $sock;
    return ($resp, $head_req);
}

sub _decode_chunked {
    my ($name, $raw) = @_;
    my $out = '';
    pos($raw) = 0;
    while (1) {
        if ($raw =~ /\G[ \t]*([0-9A-Fa-f]+)[ \t]*(?:;[^\r\n]*)?\r\n/gc) {
            my $size = hex $1;
            if ($size == 0) {
                # optional trailers, then the final CRLF
                while ($raw =~ /\G([^\r\n]+)\r\n/gc) { }
                if ($raw =~ /\G\r\n/gc) {
                    my $left = substr $raw, pos($raw);
                    return ($out, length $left ? $left : undef, undef);
                }
                return ($out, undef, "no final CRLF after the last chunk");
            }
            my $start = pos($raw);
            if (length($raw) - $start < $size) {
                return ($out, undef, "invalid chunked data received (not enough "
                        . "octets for the data section)");
            }
            $out .= substr $raw, $start, $size;
            pos($raw) = $start + $size;
            unless ($raw =~ /\G\r\n/gc) {
                return ($out, undef, "invalid chunked data received (expected CRLF)");
            }
            next;
        }
        my $rest = substr $raw, pos($raw) // 0;
        return ($out, undef, length $rest
                ? "invalid chunked body received: " . _fmt(substr $rest, 0, 80)
                : "no last chunk found");
    }
}

# Returns (HTTP::Response or undef, raw headers, leftover bytes)
sub parse_response {
    my ($name, $raw, $head_req) = @_;
    my $raw_headers = '';
    $raw_headers = $1 if $raw =~ /\A(.*?\r\n)\r\n/s;

    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;
    if (defined $code && $code !~ /^\d+$/) {
        $res->code(undef);
        $code = undef;
    }
    return ($res, $raw_headers, undef) if $code && ($code == 304 || $code == 101);

    my $te  = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my $left;

    if (defined $te && $te eq 'chunked' && !$head_req) {
        my ($body, $rest, $err) = _decode_chunked($name, $res->content // '');
        if ($err) {
            Test::More::fail("$name - $err");
            return (undef, $raw_headers, undef);
        }
        $res->content($body);
        $left = $rest;
    } elsif ($head_req) {
        my $body = $res->content // '';
        if (length $body) {
            $left = $body;
            $res->content('');
        }
    } elsif (defined $len && $len =~ /^\d+$/) {
        my $body = $res->content // '';
        if (length($body) < $len) {
            warn "WARNING: $name - response body truncated: $len expected, "
               . "but got " . length($body) . "\n";
        } elsif (length($body) > $len) {
            $left = substr $body, $len;
            $res->content(substr $body, 0, $len);
        }
    }
    return ($res, $raw_headers, $left);
}

sub _indexed {
    my ($name, $value, $idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$idx] if ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results "
                 . "should be arrays as well.");
    }
    return $value->[0] if ref $value eq 'ARRAY';
    return $value;
}

sub run_test_helper {
    my ($block, $dry_run, $rep_idx) = @_;
    my $name = $block->name;
    $rep_idx //= 0;

    my $reqs = get_req_from_block($block);
    bail_out("$name - request empty") unless @$reqs;

    my $timeout = parse_time(scalar $block->timeout);
    $timeout = $Timeout if !defined $timeout || $timeout !~ /^\d*\.?\d+$/;

    my $pipelined = $block->pipelined_requests;
    my $per_conn = $pipelined ? scalar(@$pipelined) : 1;
    my $need_array = $pipelined ? 1 : (@$reqs > 1 ? 1 : 0);
    my $wait = parse_time(scalar $block->wait);
    my $ignore = defined $block->ignore_response;
    my ($res, $req_idx) = (undef, 0);

    for my $ri (0 .. $#$reqs) {
        my ($raw, $head_req);
        if ($dry_run) {
            $raw = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
            $head_req = 0;
        } else {
            ($raw, $head_req) = send_request($reqs->[$ri],
                                             scalar($block->raw_request_middle_delay),
                                             $timeout, $block);
        }
        $raw //= '';

        for my $k (1 .. $per_conn) {
            my ($raw_headers, $left);
            unless ($ignore) {
                ($res, $raw_headers, $left) = parse_response($name, $raw, $head_req);
                if (!$pipelined && defined $left && length $left) {
                    warn "WARNING: $name - unexpected extra bytes after the "
                       . "response: \"" . _fmt(substr $left, 0, 200) . "\"\n";
                }
                $raw = $left // '';

                check_error_code($block, $res, $dry_run, $req_idx, $need_array, $raw);
                check_raw_response_headers($block, $raw_headers, $dry_run, $req_idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $dry_run, $req_idx, $need_array);
                transform_response_body($block, $res, $req_idx);
                check_response_body($block, $res, $dry_run, $req_idx, $rep_idx, $need_array);
            }

            my $more = $pipelined ? $k < $per_conn : $ri < $#$reqs;
            if ($more) {
                sleep $wait if $wait && !$dry_run;
                check_error_log($block, $res, $dry_run, $rep_idx, $need_array);
                check_access_log($block, $dry_run, $rep_idx) unless $ignore;
            }
            $req_idx++;
        }
    }

    sleep $wait if $wait && !$dry_run;
    check_error_log($block, $res, $dry_run, $rep_idx, $need_array);
    check_access_log($block, $dry_run, $rep_idx) unless $ignore;
}

sub check_error_code {
    my ($block, $res, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;
    my $desc = "$name - status code ok";

    if (defined $StartFailure) {
        Test::More::fail($desc);
        Test::More::diag($StartFailure) unless $StartFailureShown++;
        return;
    }
    return _skip("$name - tests skipped due to $dry_run") if $dry_run;

    my $got = ($res && $res->code) || '';
    my $ok;
    if (defined $block->error_code_like) {
        my $pat = _indexed($name, scalar($block->error_code_like), $idx, $need_array);
        $ok = Test::More::like($got, qr/$pat/sm, $desc);
    } elsif (defined $block->error_code) {
        my $want = _indexed($name, scalar($block->error_code), $idx, $need_array);
        $ok = Test::More::is($got, $want, $desc);
    } else {
        $ok = Test::More::is($got, 200, $desc);
    }
    if (!$ok && $got eq '') {
        Test::More::diag("no (valid) HTTP response was received; see $ErrLogFile");
    }
}

sub check_raw_response_headers {
    my ($block, $raw_headers, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;
    for my $kind (qw(like unlike)) {
        my $sec = "raw_response_headers_$kind";
        my $spec = $block->$sec;
        next unless defined $spec;
        if ($dry_run) {
            _skip("$name - $sec - tests skipped due to $dry_run");
            next;
        }
        my $pat = _indexed($name, $spec, $idx, $need_array);
        my $re = ref $pat eq 'Regexp' ? $pat : qr/$pat/s;
        if ($kind eq 'like') {
            Test::More::like($raw_headers // '', $re, "$name - raw resp headers like");
        } else {
            Test::More::unlike($raw_headers // '', $re, "$name - raw resp headers unlike");
        }
    }
}

sub parse_headers {
    my ($text) = @_;
    my %h;
    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            $h{$line} = undef;
        } else {
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            $h{$k} = $v;
        }
    }
    return \%h;
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->response_headers) {
        my $h = parse_headers(_indexed($name, scalar($block->response_headers), $idx, $need_array));
        for my $key (sort keys %$h) {
            my $want = $h->{$key};
            if ($dry_run) {
                _skip("$name - response_headers - tests skipped due to $dry_run");
                next;
            }
            if (!defined $want) {
                Test::More::unlike($raw_headers // '', qr/^\s*\Q$key\E\s*:/ms,
                                   "$name - header $key not present in the raw headers");
                next;
            }
            $want =~ s/\$ServerPort\b/$ServerPort/g;
            $want =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $got = $res ? $res->header($key) : undef;
            Test::More::is($got // '', $want, "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {
        my $h = parse_headers(_indexed($name, scalar($block->response_headers_like), $idx, $need_array));
        for my $key (sort keys %$h) {
            if ($dry_run) {
                _skip("$name - response_headers_like - tests skipped due to $dry_run");
                next;
            }
            my $pat = $h->{$key} // '';
            my $got = $res ? $res->header($key) : undef;
            Test::More::like($got // '', qr/^$pat$/, "$name - header $key like ok");
        }
    }
}

my %BodyFilters = (
    md5_hex  => sub { require Digest::MD5; Digest::MD5::md5_hex($_[0]) },
    sha1_hex => sub { require Digest::SHA; Digest::SHA::sha1_hex($_[0]) },
    uc       => sub { uc $_[0] },
    lc       => sub { lc $_[0] },
    ucfirst  => sub { ucfirst $_[0] },
    lcfirst  => sub { lcfirst $_[0] },
    length   => sub { length $_[0] },
);

sub transform_response_body {
    my ($block, $res, $idx) = @_;
    my $filters = $block->response_body_filters;
    return unless defined $filters && $res && defined $res->content;
    my $name = $block->name;

    if (!ref $filters) {
        $filters = [grep { length } split /\s+/, $filters];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }
    if (@$filters && ref $filters->[0] eq 'ARRAY') {
        $filters = $filters->[$idx]
            or bail_out("$name - --- response_body_filters has no entry for request $idx");
    }
    my $body = $res->content;
    for my $f (@$filters) {
        if (ref $f eq 'CODE') {
            $body = $f->($body);
        } elsif (!ref $f && $BodyFilters{$f}) {
            $body = $BodyFilters{$f}->($body);
        } else {
            bail_out("$name - unknown filter \"$f\" in --- response_body_filters");
        }
    }
    $res->content($body);
}

sub check_response_body {
    my ($block, $res, $dry_run, $idx, $rep_idx, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;

    if (defined $block->response_body) {
        my $want = _indexed($name, scalar($block->response_body), $idx, $need_array);
        if (defined $want && !ref $want) {
            $want =~ s/\$ServerPort\b/$ServerPort/g;
            $want =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }
        my $desc = "$name - response_body - response is expected "
                 . "(repeated req $rep_idx, req $idx)";
        if ($dry_run) {
            _skip("$name - response_body - tests skipped due to $dry_run");
        } elsif (ref $want) {
            Test::More::like($content, $want,
                "$name - response_body - like (repeated req $rep_idx, req $idx)");
        } else {
            is_str($content, $want, $desc);
        }
    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $sec = "response_body_$type";
        my $pat = _indexed($name, scalar($block->$sec), $idx, $need_array);
        if (!ref $pat) {
            $pat =~ s/\$ServerPort\b/$ServerPort/g;
            $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }
        my $summary = trim($content) // '';
        $summary = substr($summary, 0, 100) . '...' if length $summary > 100;
        if ($dry_run) {
            _skip("$name - $sec - tests skipped due to $dry_run");
        } else {
            my $re = ref $pat eq 'Regexp' ? $pat : qr/$pat/s;
            my $desc = "$name - $sec - response is expected ($summary)";
            if ($type eq 'like') {
                Test::More::like($content, $re, $desc);
            } else {
                Test::More::unlike($content, $re, $desc);
            }
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $content, $idx, $rep_idx, $dry_run);
    }
}

# ---------------------------------------------------------------------------
# Error / access log checks
# ---------------------------------------------------------------------------

sub _patterns {
    my ($spec) = @_;
    if (!ref $spec) {
        chomp $spec;
        return [grep { length } split /\n+/, $spec];
    }
    return [$spec] if ref $spec eq 'Regexp';
    return [@$spec] if ref $spec eq 'ARRAY';
    return [$spec];
}

sub _mentions {
    my ($spec, $what) = @_;
    return 0 unless defined $spec;
    return index("$spec", $what) >= 0 ? 1 : 0 if !ref $spec || ref $spec eq 'Regexp';
    if (ref $spec eq 'ARRAY') {
        for (@$spec) { return 1 if defined $_ && index("$_", $what) >= 0 }
    }
    return 0;
}

sub _line_matches {
    my ($line, $pat) = @_;
    return ref $pat eq 'Regexp' ? $line =~ $pat : index($line, $pat) >= 0;
}

sub _log_summary {
    my ($file, $lines) = @_;
    my @notable = grep { /\[(?:warn|error|crit|alert|emerg)\]/ } @$lines;
    splice @notable, 0, @notable - 10 if @notable > 10;
    my $s = "searched " . scalar(@$lines) . " new line(s) of $file";
    $s .= "; last warn/error lines:\n" . join('', map {
        length $_ > 400 ? substr($_, 0, 400) . "...\n" : $_
    } @notable) if @notable;
    return $s;
}

sub _check_log_patterns {
    my ($block, $section, $file_label, $lines, $dry_run, $rep_idx, $negate, $file) = @_;
    my $name = $block->name;
    my $pats = _patterns(scalar $block->$section);

    if ($negate) {
        my %seen;
        for my $li (0 .. $#$lines) {
            my $line = $lines->[$li];
            for my $pat (@$pats) {
                next unless defined $pat && _line_matches($line, $pat);
                $seen{$pat} = 1;
                if ($dry_run) {
                    _skip("$name - $section - tests skipped due to $dry_run");
                    next;
                }
                Test::More::fail("$name - pattern \"" . _fmt($pat) . "\" should not "
                    . "match any line in $file_label but matches line \""
                    . _fmt($line) . "\" (req $rep_idx)");
            }
        }
        for my $pat (@$pats) {
            next if !defined $pat || $seen{$pat};
            if ($dry_run) {
                _skip("$name - $section - tests skipped due to $dry_run");
                next;
            }
            Test::More::pass("$name - pattern \"" . _fmt($pat) . "\" does not match "
                             . "a line in $file_label (req $rep_idx)");
        }
        return;
    }

    my @left = @$pats;
    for my $line (@$lines) {
        for my $pat (@left) {
            next unless defined $pat && _line_matches($line, $pat);
            if ($dry_run) {
                _skip("$name - $section - tests skipped due to $dry_run");
            } else {
                Test::More::pass("$name - pattern \"" . _fmt($pat) . "\" matches a "
                                 . "line in $file_label (req $rep_idx)");
            }
            undef $pat;
        }
    }
    for my $pat (@left) {
        next unless defined $pat;
        if ($dry_run) {
            _skip("$name - $section - tests skipped due to $dry_run");
            next;
        }
        Test::More::fail("$name - pattern \"" . _fmt($pat) . "\" should match a "
                         . "line in $file_label (req $rep_idx)");
        Test::More::diag(_log_summary($file, $lines));
    }
}

sub check_error_log {
    my ($block, $res, $dry_run, $rep_idx, $need_array, $extra) = @_;
    my $name = $block->name;
    my $lines;
    my $get = sub {
        $lines //= do {
            my $l = $dry_run ? [] : error_log_data();
            push @$l, @$extra if $extra;
            $l;
        };
    };

    if (defined(my $gpats = $block->grep_error_log)) {
        my $gpat = ref $gpats eq 'ARRAY' ? $gpats->[$rep_idx] : $gpats;
        if (defined $gpat) {
            my $want = $block->grep_error_log_out;
            bail_out("$name - No --- grep_error_log_out defined but --- "
                     . "grep_error_log is defined") unless defined $want;
            $want = $want->[$rep_idx] if ref $want eq 'ARRAY';
            if ($dry_run) {
                _skip("$name - grep_error_log - tests skipped due to $dry_run");
            } else {
                my $out = '';
                for my $line (@{ $get->() }) {
                    my $m;
                    if (ref $gpat eq 'Regexp') {
                        $m = $& if $line =~ $gpat;
                    } elsif (index($line, $gpat) >= 0) {
                        $m = $gpat;
                    }
                    $out .= "$m\n" if defined $m && $m !~ /\n/;
                }
                is_str($out, $want, "$name - grep_error_log_out (req $rep_idx)");
            }
        }
    }

    for my $sec (qw(error_log no_error_log)) {
        next unless defined $block->$sec;
        _check_log_patterns($block, $sec, 'error.log', $get->(), $dry_run,
                            $rep_idx, $sec eq 'no_error_log', $ErrLogFile);
    }

    return if $dry_run;

    my %mentioned;
    for my $lvl (qw(alert crit emerg)) {
        $mentioned{$lvl} = _mentions(scalar($block->error_log), "[$lvl")
                        || _mentions(scalar($block->no_error_log), "[$lvl");
    }
    my @own = @{ $get->() };
    splice @own, @own - @$extra if $extra && @$extra;   # nginx stderr lines
    for my $line (@own) {
        if ($line =~ /\[(alert|crit|emerg)\]/ && !$mentioned{$1}) {
            warn "WARNING: $name - " . _fmt($line) . "\n";
        }
        if ($line =~ /\bAssertion .*?failed\b/) {
            (my $l = $line) =~ s/\s+$//;
            Test::More::fail("$name - $l");
        }
    }
}

sub check_access_log {
    my ($block, $dry_run, $rep_idx) = @_;
    return unless defined $block->access_log || defined $block->no_access_log;
    my $lines = $dry_run ? [] : access_log_data();
    for my $sec (qw(access_log no_access_log)) {
        next unless defined $block->$sec;
        _check_log_patterns($block, $sec, 'access.log', $lines, $dry_run,
                            $rep_idx, $sec eq 'no_access_log', $AccLogFile);
    }
}

1;
