# The authorization matrix: for every account operation and every role, an
# actor acting on a target outside its scope gets 403 or 404, no data, and
# nothing changes.  Lists hold exactly the actor's scope, computed here from
# the region tree independently of the SQL under test.  Plus: concurrent
# creation of one username (one 201, one 409) and a reset's one-time
# password, which signs in once and must be changed first.  Inside one org,
# every account action of a weaker sub-account on a stronger sibling is
# refused (403), while the same on an equal or weaker one works.

use strict;
use utf8;
use warnings;
use lib 't/lib';
use VBP::Test;
use Test::More;
use HTTP::Tiny;
use JSON::PP;

my $base = vbp_nginx_start();
my $http = HTTP::Tiny->new(timeout => 20);

# --- fixtures -------------------------------------------------------------

my $pw = 'Scope@Test2026';

vbp_sql("DELETE FROM audit_log WHERE actor_user_id IN (SELECT id FROM users WHERE username LIKE 't21%')");
vbp_sql("DELETE FROM users WHERE username LIKE 't21%'");
vbp_sql("DELETE FROM orgs WHERE code LIKE 'T21%'");
# other files leave accounts disabled or locked
vbp_sql("UPDATE users SET status = 'active'");
vbp_sql("DELETE FROM login_locks");

for my $i (1 .. 10) {
    vbp_sql("INSERT INTO orgs (code, name, kind, region_id) SELECT 'T21H$i', '并发测试医院$i',"
            . " 'hospital', id FROM regions WHERE code = '210100'");
}

# sub-accounts: one of a Shenyang hospital (manages sub-users), one in Hefei
for my $s (['t21_sub', 'H21010200011'], ['t21_sub_hf', 'H34010200011']) {
    vbp_sql("INSERT INTO users (username, display_name, org_id, parent_user_id, password_hash,"
            . " must_change_password) SELECT '$s->[0]', '子账户', org_id, id, '!', false"
            . " FROM users WHERE username = '$s->[1]'");
    vbp_sql("INSERT INTO user_permissions SELECT id, 'account.subusers' FROM users"
            . " WHERE username = '$s->[0]'");
}

my %actor = vbp_sign_in($pw, qw(lcb_admin ln_admin ah_admin sy_admin dl_admin H21010200011
                 H34010200011 weigao t21_sub));

sub call { my $who = shift; return vbp_api($base, $actor{$who}, @_) }

# the state every refused action must leave untouched
sub snapshot {
    return join '|', vbp_sql("SELECT md5(string_agg(concat_ws(',', id, username, display_name,"
        . " phone, status, password_hash, must_change_password, updated_at), ';' ORDER BY id))"
        . " FROM users"),
        vbp_sql("SELECT md5(string_agg(user_id || permission, ';' ORDER BY user_id, permission))"
        . " FROM user_permissions"),
        vbp_sql("SELECT count(*) FROM users"),
        vbp_sql("SELECT md5(string_agg(code || name, ';' ORDER BY code)) FROM regions");
}

# --- who is in whose scope, from the region tree ------------------------------

my %info;   # username -> {id, org kind, region code, province code, main}
for my $row (vbp_sql("SELECT u.username, u.id, o.kind, r.code, COALESCE(p.code, ''),"
                     . " u.parent_user_id IS NULL, o.code FROM users u JOIN orgs o ON o.id = u.org_id"
                     . " JOIN regions r ON r.id = o.region_id LEFT JOIN regions p ON p.id = r.parent_id")) {
    my ($u, $id, $kind, $region, $province, $main, $org) = split /\|/, $row;
    $info{$u} = { id => $id, kind => $kind, region => $region, province => $province,
                  main => $main eq 't', org => $org };
}

sub in_admin_scope {
    my ($actor, $target) = @_;
    my ($a, $t) = ($info{$actor}, $info{$target});
    return $t->{kind} ne 'alliance' if $a->{kind} eq 'alliance';
    return ($t->{kind} eq 'city_bureau' || $t->{kind} eq 'hospital')
        && $t->{province} eq $a->{region}
        if $a->{kind} eq 'province_bureau';
    return $t->{kind} eq 'hospital' && $t->{region} eq $a->{region}
        if $a->{kind} eq 'city_bureau';
    return 0;
}

sub in_sub_scope {
    my ($actor, $target) = @_;
    return $actor ne $target && !$info{$target}{main}
        && $info{$target}{org} eq $info{$actor}{org};
}

my @targets = qw(lcb_admin ln_admin ah_admin sy_admin dl_admin hf_admin H21010200011
                 H21010200022 H21020200012 H34010200011 weigao mindray t21_sub t21_sub_hf);

# --- lists hold exactly the scope -------------------------------------------

for my $who (qw(lcb_admin ln_admin sy_admin dl_admin)) {
    my %got;
    for (my $page = 1; ; $page++) {
        my ($st, $d) = call($who, 'GET', "/api/users?per_page=100&page=$page");
        is($st, 200, "$who lists users, page $page") or last;
        $got{$_->{username}} = 1 for @{ $d->{items} };
        last unless $d->{has_next};
    }
    my @want = sort grep { in_admin_scope($who, $_) } keys %info;
    is_deeply([sort keys %got], \@want, "$who: the user list is exactly its scope (" . @want . ")");
}

{
    my ($st, $d) = call('H21010200011', 'GET', '/api/subusers?per_page=100');
    is_deeply([sort map { $_->{username} } @{ $d->{items} }],
              [sort grep { in_sub_scope('H21010200011', $_) } keys %info],
              'a main account lists its own sub-accounts and no others');
}

my %orgs;   # code -> the same facts as %info, for orgs with or without accounts
for my $row (vbp_sql("SELECT o.code, o.kind, r.code, COALESCE(p.code, '') FROM orgs o"
                     . " JOIN regions r ON r.id = o.region_id LEFT JOIN regions p ON p.id = r.parent_id")) {
    my ($code, $kind, $region, $province) = split /\|/, $row;
    $orgs{$code} = { kind => $kind, region => $region, province => $province };
}

for my $who (qw(lcb_admin ln_admin sy_admin)) {
    my %got;
    for (my $page = 1; ; $page++) {
        my ($st, $d) = call($who, 'GET', "/api/orgs?per_page=100&page=$page");
        $got{$_->{code}} = 1 for @{ $d->{items} };
        last unless $d->{has_next};
    }
    local $info{'(org)'};
    my @want = grep { $info{'(org)'} = $orgs{$_}; in_admin_scope($who, '(org)') } keys %orgs;
    is_deeply([sort keys %got], [sort @want], "$who: the org list is exactly its scope (" . @want . ")");
}

# --- every operation, every role, every target out of scope ------------------

my @admin_ops = (
    [GET => '/api/users/get?id=%d'],
    [POST => '/api/users/update', sub { { id => $_[0], display_name => '越权修改', phone => '' } }],
    [POST => '/api/users/status', sub { { ids => [$_[0]], status => 'disabled' } }],
    [POST => '/api/users/reset-password', sub { { id => $_[0] } }],
);
my @sub_ops = (
    [GET => '/api/subusers/get?id=%d'],
    [GET => '/api/permissions/tree?id=%d'],
    [POST => '/api/subusers/update', sub { { id => $_[0], display_name => '越权修改' } }],
    [POST => '/api/subusers/status', sub { { ids => [$_[0]], status => 'disabled' } }],
    [POST => '/api/subusers/reset-password', sub { { id => $_[0] } }],
    [POST => '/api/subusers/grant', sub { { id => $_[0], permissions => ['org.view'] } }],
);

my $before = snapshot();
my ($refused, $checked) = (0, 0);

for my $who (sort keys %actor) {
    for my $set ([\@admin_ops, \&in_admin_scope], [\@sub_ops, \&in_sub_scope]) {
        my ($ops, $in_scope) = @$set;
        for my $target (grep { !$in_scope->($who, $_) } @targets) {
            my $id = $info{$target}{id};
            for my $op (@$ops) {
                my ($method, $path, $body) = @$op;
                my ($st, $d, $raw) = call($who, $method,
                                         $path =~ /%d/ ? sprintf($path, $id) : $path,
                                         $body ? $body->($id) : undef);
                $checked++;
                if (($st == 403 || $st == 404) && !defined $d->{username}
                    && $raw !~ /"username":"\Q$target\E"/)
                {
                    $refused++;
                } else {
                    fail("$who $method $path on $target: $st $raw");
                }
            }
        }
    }
}

is($refused, $checked, "every out-of-scope action refused with 403/404 and no data ($checked)");
is(snapshot(), $before, '... and nothing changed');

# the same operations inside the scope do work: the matrix can fail
{
    my ($st, $d) = call('sy_admin', 'GET', "/api/users/get?id=$info{H21010200022}{id}");
    is($st, 200, 'a city reads its hospital\'s account');
    ($st, $d) = call('ln_admin', 'GET', "/api/users/get?id=$info{dl_admin}{id}");
    is($st, 200, 'a province reads its city\'s account');
    ($st, $d) = call('t21_sub', 'GET', "/api/subusers/get?id=$info{t21_sub}{id}");
    is($st, 404, 'a sub-account does not manage itself');
    ($st, $d) = call('H21010200011', 'GET', "/api/subusers/get?id=$info{t21_sub}{id}");
    is($st, 200, 'its main account does');
}

# creating in another's org, and regions outside one's reach
$before = snapshot();
for my $case (['sy_admin', 'H21020200012'], ['dl_admin', 'T21H1'], ['ln_admin', 'H34010200011'],
              ['ah_admin', 'YB210100'], ['lcb_admin', 'LCB']) {
    my ($who, $org) = @$case;
    my ($st) = call($who, 'POST', '/api/users/create',
                    { username => "t21_x_$who", display_name => '越权', org_code => $org });
    ok($st == 404 || $st == 409, "$who cannot create an account in $org ($st)");
}
for my $who (qw(H21010200011 weigao t21_sub)) {
    my ($st) = call($who, 'POST', '/api/users/create',
                    { username => "t21_y_$who", display_name => '越权', org_code => 'T21H2' });
    is($st, 403, "$who has no user management: 403");
}
{
    my ($st) = call('sy_admin', 'POST', '/api/regions/create', { code => '210900', name => '阜新市' });
    is($st, 403, 'a city adds no region');
    ($st) = call('ah_admin', 'POST', '/api/regions/create', { code => '210900', name => '阜新市' });
    is($st, 422, 'a province adds no city of another province');
    ($st) = call('ah_admin', 'POST', '/api/regions/rename', { code => '210100', name => '改名' });
    is($st, 404, 'a province renames no city of another province');
    ($st) = call('ln_admin', 'POST', '/api/regions/rename', { code => '210000', name => '改名' });
    is($st, 404, '... nor its own region');
    ($st) = call('sy_admin', 'POST', '/api/regions/rename', { code => '210100', name => '改名' });
    is($st, 403, 'a city renames no region');
}
is(snapshot(), $before, 'none of it changed anything');

# --- inside one org: a weaker sub-account never acts on a stronger one --------

# a city bureau's sub-accounts: t21_weak holds only sub-user management,
# t21_strong that and user, org and audit management, t21_peer the same as
# t21_weak, t21_less nothing at all
{
    my $hash = vbp_sql("SELECT password_hash FROM users WHERE username = 'sy_admin'");
    my %grants = (t21_weak => ['account.subusers'],
                  t21_strong => ['account.subusers', 'admin.users', 'admin.orgs', 'admin.audit'],
                  t21_peer => ['account.subusers'], t21_less => []);
    for my $name (sort keys %grants) {
        vbp_sql("INSERT INTO users (username, display_name, org_id, parent_user_id, password_hash,"
                . " must_change_password) SELECT '$name', '子账户', org_id, id, '$hash', false"
                . " FROM users WHERE username = 'sy_admin'");
        vbp_sql("INSERT INTO user_permissions SELECT id, '$_' FROM users WHERE username = '$name'")
            for @{ $grants{$name} };
        $info{$name}{id} = vbp_sql("SELECT id FROM users WHERE username = '$name'");
    }
    my $t = vbp_setup("login t21_weak $pw");
    $actor{t21_weak} = { sid => $t->{'@SID@'}, csrf => $t->{'@CSRF@'} };
    vbp_sql("INSERT INTO login_locks (username, client, failures, window_start, locked_until)"
            . " VALUES ('t21_strong', '10.9.9.9', 5, now(), now() + interval '15 minutes')");
}

# every account action a sub-account can take
my @sibling_ops = (
    ['reset', '/api/subusers/reset-password', sub { { id => $_[0] } }],
    ['disable', '/api/subusers/status', sub { { ids => [$_[0]], status => 'disabled' } }],
    ['enable', '/api/subusers/status', sub { { ids => [$_[0]], status => 'active' } }],
    ['batch with a weaker one', '/api/subusers/status',
     sub { { ids => [$info{t21_less}{id}, $_[0]], status => 'disabled' } }],
    ['rename', '/api/subusers/update', sub { { id => $_[0], display_name => '改名' } }],
    ['strip (grant only what it holds itself)', '/api/subusers/grant',
     sub { { id => $_[0], permissions => ['account.subusers'] } }],
    ['revoke', '/api/subusers/grant', sub { { id => $_[0], permissions => [] } }],
    ['unlock', '/api/subusers/unlock', sub { { id => $_[0] } }],
);

$before = snapshot();
my $locks = vbp_sql("SELECT count(*) FROM login_locks WHERE username = 't21_strong'");
for my $op (@sibling_ops) {
    my ($what, $path, $body) = @$op;
    my ($st, $d, $raw) = call('t21_weak', 'POST', $path, $body->($info{t21_strong}{id}));
    is($st, 403, "a weaker sub-account cannot $what a stronger sibling ($path)") or diag($raw);
    unlike($raw, qr/"password"/, '... and learns no password');
}
is(snapshot(), $before, 'none of it changed an account or a grant');
is(vbp_sql("SELECT count(*) FROM login_locks WHERE username = 't21_strong'"), $locks, '... or a lock');

# the stronger one's powers stayed its own: its password still signs it in
{
    my $a = vbp_frame({ op => 'auth.login', ip => '10.1.1.1', captcha_ok => JSON::PP::true,
                        args => { username => 't21_strong', password => $pw } });
    is($a->{status}, 200, 'the stronger sibling still signs in with its own password');
}

# ... while the same actions on an equal and on a weaker sibling work: the
# rule is a subset test, not a refusal of everything
for my $target (qw(t21_peer t21_less)) {
    my ($st, $d) = call('t21_weak', 'POST', '/api/subusers/update',
                        { id => $info{$target}{id}, display_name => '改名' });
    is($st, 200, "a sub-account edits a sibling no stronger than itself ($target)");
    ($st, $d) = call('t21_weak', 'POST', '/api/subusers/reset-password', { id => $info{$target}{id} });
    is($st, 200, "... and resets its password ($target)");
}
{
    my ($st) = call('t21_weak', 'POST', '/api/subusers/grant',
                    { id => $info{t21_less}{id}, permissions => ['admin.users'] });
    is($st, 403, 'it grants nothing it does not hold itself');
}

# the main account manages all its sub-accounts, the strongest included
{
    my $t = vbp_setup("login sy_admin $pw");
    $actor{sy_admin} = { sid => $t->{'@SID@'}, csrf => $t->{'@CSRF@'} };
    my ($st, $d) = call('sy_admin', 'POST', '/api/subusers/unlock', { id => $info{t21_strong}{id} });
    is($st, 200, 'the main account lifts the lock of its strongest sub-account');
    is($d->{unlocked}, 1, '... one lock lifted');
    ($st) = call('sy_admin', 'POST', '/api/subusers/reset-password', { id => $info{t21_strong}{id} });
    is($st, 200, '... and resets its password');
    ($st, $d) = call('sy_admin', 'GET', '/api/subusers?per_page=100');
    my %m = map { $_->{username} => $_->{manageable} } @{ $d->{items} };
    ok($m{t21_strong} && $m{t21_weak}, 'its list marks every sub-account manageable');
    ($st, $d) = call('t21_weak', 'GET', '/api/subusers?per_page=100');
    %m = map { $_->{username} => $_->{manageable} } @{ $d->{items} };
    ok(!$m{t21_strong} && $m{t21_peer} && $m{t21_less},
       "the weaker one's list marks the stronger sibling not manageable, the others manageable");
}

# --- one username created twice at once: one 201, one 409 ---------------------

for my $round (1 .. 4) {
    my $name = "t21_race$round";
    my @pids;
    pipe(my $rd, my $wr) or die;
    for my $org ("T21H" . (2 * $round), "T21H" . (2 * $round + 1)) {
        my $pid = fork() // die;
        if ($pid == 0) {
            close $rd;
            my ($st) = call('sy_admin', 'POST', '/api/users/create',
                            { username => $name, display_name => '并发', org_code => $org });
            syswrite $wr, "$st\n";
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    close $wr;
    my @st = sort map { chomp; $_ } <$rd>;
    waitpid $_, 0 for @pids;
    is_deeply(\@st, [201, 409], "round $round: concurrent creation of $name: one 201, one 409");
    is(vbp_sql("SELECT count(*) FROM users WHERE username = '$name'"), 1, '... and one account');
}

# --- a reset's one-time password: signs in, must be changed first -------------

{
    my ($st, $d) = call('sy_admin', 'POST', '/api/users/reset-password',
                        { id => $info{H21010200022}{id} });
    is($st, 200, 'reset');
    my $otp = $d->{password};
    like($otp, qr/^[A-HJ-NP-Za-km-z2-9]{12}$/, 'a random 12-character one-time password');
    isnt($otp, '123456', 'never the seeds\' fixed password');

    my $t = vbp_setup('captcha');
    my $r = $http->post_form("$base/api/login",
                             { username => 'H21010200022', password => $otp, captcha => $t->{'@CAP@'} },
                             { headers => { Cookie => "vbp_cap=$t->{'@CAPID@'}" } });
    is($r->{status}, 200, "the one-time password signs in") or diag("$otp: $r->{content}");
    my ($sid) = ($r->{headers}{'set-cookie'} // '') =~ /vbp_sid=([^;]+)/;
    my $me = decode_json($r->{content});
    is($me->{must_change_password}, JSON::PP::true, '... and must be changed');

    $r = $http->get("$base/api/org", { headers => { Cookie => "vbp_sid=$sid" } });
    is($r->{status}, 403, '... before anything else');

    is(vbp_sql("SELECT count(*) FROM audit_log WHERE action = 'password_reset'"
               . " AND target_id = '$info{H21010200022}{id}'") > 0 ? 1 : 0, 1, 'the reset is audited');
}

vbp_nginx_stop();
done_testing();
