# Totals at every level equal the sum of the underlying lines (issue 10),
# after a long random sequence of saves, submits, withdraw requests,
# returns, revokes, exemptions and resubmissions at every level: hospital,
# city, province, alliance.  Every answer is 2xx or 4xx, never 5xx; every
# item's last event leads to the state it is in (no event without its
# change, no change without its event); and at checkpoints the hospital
# rows of each city's list, each province's city rows, the alliance's
# province row and the national CSV are compared with sums computed from
# filing_lines.  The sequence is seeded (VBP_SEED, default 36; printed).
# Plain Test::More against an nginx of its own.

use strict;
use utf8;
use warnings;
use lib 't/lib';
use VBP::Test;
use Test::More;

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $seed = $ENV{VBP_SEED} // 36;
my $steps = $ENV{VBP_STEPS} // ($ENV{TEST_NGINX_USE_VALGRIND} ? 150 : 600);
srand($seed);
diag("seed $seed, $steps steps");

my $base = vbp_nginx_start();
END { vbp_nginx_stop() }

my $pw = 'Random@Totals2026';
my $pid = vbp_open_project('t36 随机序列', 'R', 8, 2);
my %city_admin = (210100 => 'sy_admin', 210200 => 'dl_admin', 210300 => 'as_admin', 219900 => 'lnsbj_admin');

# the hospitals of the project that have an account, and their cities
my %hospital;     # username => { item, city }
for (vbp_sql("SELECT u.username || '|' || i.id || '|' || r.code FROM review_items i"
             . " JOIN orgs o ON o.id = i.org_id JOIN users u ON u.org_id = o.id AND u.parent_user_id IS NULL"
             . " JOIN regions r ON r.id = o.region_id WHERE i.project_id = $pid ORDER BY u.username")) {
    my ($u, $item, $city) = split /\|/;
    next unless $city_admin{$city};
    $hospital{$u} = { item => $item, city => $city };
}
my @hospitals = sort keys %hospital;
cmp_ok(scalar(@hospitals), '>=', 5, scalar(@hospitals) . ' hospitals with accounts file in the sequence');

my %as = vbp_sign_in($pw, @hospitals, values %city_admin, 'ln_admin', 'lcb_admin');

my @lines = vbp_sql("SELECT id FROM catalog_lines WHERE project_id = $pid ORDER BY serial");
my %city_item = map { split /\|/ } vbp_sql("SELECT r.code || '|' || i.id FROM review_items i JOIN regions r"
                                           . " ON r.id = i.region_id WHERE i.project_id = $pid AND i.level = 'city'");
my $province_item = vbp_sql("SELECT id FROM review_items WHERE project_id = $pid AND level = 'province'");

my ($calls, $server_errors, %outcome) = (0, 0);
sub call {
    my ($who, $method, $path, $body, $type) = @_;
    my ($st, $d, $raw) = vbp_api($base, $as{$who}, $method, $path, $body, $type);
    $calls++;
    if ($st >= 500 || $st == 0) {
        $server_errors++;
        diag("$who $method $path: $st $raw");
    }
    return ($st, $d);
}

# the files every submit needs, uploaded while the filings are open
my $pdf = "%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
for my $h (@hospitals) {
    for my $kind (qw(commitment summary)) {
        my ($st) = call($h, 'POST', "/api/files/upload?project=$pid&kind=$kind&name=$kind.pdf", $pdf,
                        'application/octet-stream');
        is($st, 201, "$h uploads its $kind") if $h eq $hospitals[0];
    }
}
call('ln_admin', 'POST', "/api/files/upload?project=$pid&kind=province_summary&name=s.pdf", $pdf,
     'application/octet-stream');

# a signed sheet holds only for the figures it was signed on: before most
# submits the filer signs and uploads it again (the others: 422, stale)
sub sign {
    my ($who, $kind) = @_;
    call($who, 'POST', "/api/files/upload?project=$pid&kind=$kind&name=$kind.pdf", $pdf,
         'application/octet-stream');
}

sub pick { return $_[int rand @_] }

# the states now: most actions are aimed at an item they fit (the
# sequence must get through every level, not only be refused), the rest
# at any item (and refused: 409, nothing changed)
my %state;
sub refresh { %state = map { split /\|/ } vbp_sql("SELECT id || '|' || state FROM review_items WHERE project_id = $pid") }
sub aimed {
    my ($from, @candidates) = @_;
    my @fit = grep { $state{ $_->[1] } =~ /^(?:$from)$/ } @candidates;
    return @fit && rand() < 0.75 ? pick(@fit) : pick(@candidates);
}
my @hospital_items = map { [$_, $hospital{$_}{item}] } @hospitals;

sub random_save {
    my $h = pick(@hospitals);
    my @chosen = grep { rand() < 0.5 } @lines;
    # a line now and then emptied (it leaves the filing), a 意向 figure now
    # and then, the same page sent again as it stands now and then
    my @body = map {
        my $last = int rand 500;
        rand() < 0.15 ? { catalog_line_id => 0 + $_ }
                      : { catalog_line_id => 0 + $_, last_year => $last, demand => int rand 700,
                          (rand() < 0.3 ? (intended => int rand 300) : ()),
                          in_use => JSON::PP::true, change_note => '随机序列的说明' }
    } @chosen;
    push @body, { catalog_line_id => 0 + pick(@lines) } if rand() < 0.2 && !@chosen;
    my ($st) = call($h, 'POST', '/api/filing/save', { project => $pid, lines => \@body });
    ($st) = call($h, 'POST', '/api/filing/save', { project => $pid, lines => \@body })
        if $st == 200 && rand() < 0.2;
    $outcome{"save $st"}++;
}

sub random_hospital_action {
    my $h;
    if (rand() < 0.8) {
        ($h) = @{ aimed('unfiled|draft|returned', @hospital_items) };
        sign($h, 'summary') if rand() < 0.7;
        my ($st) = call($h, 'POST', '/api/filing/submit', { project => $pid, contact => '随机', phone => '024-12345678' });
        $outcome{"submit $st"}++;
    } else {
        ($h) = @{ aimed('submitted|approved', @hospital_items) };
        my ($st) = call($h, 'POST', '/api/filing/withdraw', { project => $pid, reason => '需要修改' });
        $outcome{"request_withdraw $st"}++;
    }
}

my %fits = (approve => 'submitted', return => 'submitted|approved', revoke => 'approved|returned',
            exempt => 'unfiled|draft', include => 'exempt', grant_withdraw => 'withdraw_requested',
            refuse_withdraw => 'withdraw_requested');
sub random_city_act {
    my $action = pick(qw(approve approve approve return revoke exempt include grant_withdraw refuse_withdraw));
    my ($h) = @{ aimed($fits{$action}, @hospital_items) };
    my $city = $hospital{$h}{city};
    # now and then a batch of every hospital of the city
    my @ids = rand() < 0.3 ? map { $hospital{$_}{item} } grep { $hospital{$_}{city} eq $city } @hospitals
                           : ($hospital{$h}{item});
    my ($st) = call($city_admin{$city}, 'POST', '/api/review/act',
                    { action => $action, ids => [map { 0 + $_ } @ids], reason => '随机原因' });
    $outcome{"city $action $st"}++;
}

sub random_city_own {
    my $city = pick(keys %city_admin);
    my $what = rand() < 0.7 ? 'submit' : 'withdraw';
    my ($st) = call($city_admin{$city}, 'POST', "/api/review/$what", { project => $pid });
    $outcome{"city $what $st"}++;
}

my @city_items = map { [$_, $city_item{$_}] } sort keys %city_item;
sub random_province {
    if (rand() < 0.7) {
        my $action = pick(qw(approve approve return revoke));
        my @ids = rand() < 0.3 ? values %city_item : ($city_item{ aimed($fits{$action}, @city_items)->[0] });
        my ($st) = call('ln_admin', 'POST', '/api/review/act',
                        { action => $action, ids => [map { 0 + $_ } @ids], reason => '省级随机原因' });
        $outcome{"province $action $st"}++;
    } else {
        my $what = rand() < 0.7 ? 'submit' : 'withdraw';
        sign('ln_admin', 'province_summary') if $what eq 'submit' && rand() < 0.7;
        my ($st) = call('ln_admin', 'POST', "/api/review/$what", { project => $pid });
        $outcome{"province $what $st"}++;
    }
}

sub random_alliance {
    my $action = pick(qw(approve return revoke));
    my ($st) = call('lcb_admin', 'POST', '/api/review/act',
                    { action => $action, ids => [0 + $province_item], reason => '联采办随机原因' });
    $outcome{"alliance $action $st"}++;
}

# now and then the whole chain is driven up to the alliance, which then
# approves or returns the province; the random steps after it go on from
# there (a return from above reopens the levels below)
sub push_up {
    refresh();
    for my $h (@hospitals) {
        my $item = $hospital{$h}{item};
        if ($state{$item} eq 'withdraw_requested') {
            call($city_admin{ $hospital{$h}{city} }, 'POST', '/api/review/act',
                 { action => 'refuse_withdraw', ids => [0 + $item], reason => '不同意' });
        } elsif ($state{$item} =~ /^(unfiled|draft|returned)$/) {
            call($h, 'POST', '/api/filing/save', { project => $pid, lines => [
                 { catalog_line_id => 0 + $lines[0], last_year => 100, demand => 110, in_use => JSON::PP::true } ] });
            sign($h, 'summary');
            call($h, 'POST', '/api/filing/submit', { project => $pid, contact => '随机', phone => '024-12345678' });
        }
    }
    refresh();
    for my $city (sort keys %city_admin) {
        my @mine = map { $hospital{$_}{item} } grep { $hospital{$_}{city} eq $city } @hospitals;
        my @submitted = grep { $state{$_} eq 'submitted' } @mine;
        call($city_admin{$city}, 'POST', '/api/review/act', { action => 'approve', ids => [map { 0 + $_ } @submitted] })
            if @submitted;
        call($city_admin{$city}, 'POST', '/api/review/submit', { project => $pid });
    }
    refresh();
    my @cities = grep { $state{$_} eq 'submitted' } values %city_item;
    call('ln_admin', 'POST', '/api/review/act', { action => 'approve', ids => [map { 0 + $_ } @cities] }) if @cities;
    sign('ln_admin', 'province_summary');
    my ($st) = call('ln_admin', 'POST', '/api/review/submit', { project => $pid });
    $outcome{"push: province submit $st"}++;
    my $action = rand() < 0.5 ? 'approve' : 'return';
    ($st) = call('lcb_admin', 'POST', '/api/review/act',
                 { action => $action, ids => [0 + $province_item], reason => '联采办退回复核' });
    $outcome{"push: alliance $action $st"}++;
}

# --- what must hold at every checkpoint -----------------------------------------

my %lines_sum;    # item => [last_year, demand, lines]
sub truth {
    %lines_sum = ();
    for (vbp_sql("SELECT i.id || '|' || coalesce(sum(l.last_year), 0) || '|' || coalesce(sum(l.demand), 0)"
                 . " || '|' || count(l.item_id) FROM review_items i LEFT JOIN filing_lines l ON l.item_id = i.id"
                 . " WHERE i.project_id = $pid AND i.level = 'hospital' GROUP BY i.id")) {
        my ($item, @v) = split /\|/;
        $lines_sum{$item} = \@v;
    }
}

sub check {
    my $when = shift;
    truth();
    my @bad;

    # each city's list: each hospital's totals are its lines'
    for my $city (sort keys %city_admin) {
        my ($st, $d) = call($city_admin{$city}, 'GET', "/api/review/items?project=$pid&per_page=100");
        push @bad, "$city list: $st" unless $st == 200;
        for my $row (@{ $d->{items} || [] }) {
            my $t = $lines_sum{ $row->{id} } or next;
            push @bad, "$city list $row->{org_code}: $row->{last_year_total}/$row->{demand_total}/$row->{lines}"
                       . " against lines @$t"
                unless $row->{last_year_total} == $t->[0] && $row->{demand_total} == $t->[1] && $row->{lines} == $t->[2];
        }
    }

    # the province's city rows and the alliance's province row: the lines of
    # the hospitals that must report (never 无需上报)
    my %city_sum = map { my ($c, @v) = split /\|/; ($c => \@v) }
        vbp_sql("SELECT r.code || '|' || coalesce(sum(l.last_year) FILTER (WHERE h.state <> 'exempt'), 0)"
                . " || '|' || coalesce(sum(l.demand) FILTER (WHERE h.state <> 'exempt'), 0)"
                . " || '|' || count(DISTINCT h.id) FILTER (WHERE h.state <> 'exempt')"
                . " FROM review_items c JOIN regions r ON r.id = c.region_id"
                . " JOIN review_items h ON h.parent_id = c.id LEFT JOIN filing_lines l ON l.item_id = h.id"
                . " WHERE c.project_id = $pid AND c.level = 'city' GROUP BY r.code");
    my ($st, $d) = call('ln_admin', 'GET', "/api/review/summary?project=$pid");
    push @bad, "province summary: $st" unless $st == 200;
    my @total = (0, 0, 0);
    for my $row (@{ $d->{items} || [] }) {
        my $t = $city_sum{ $row->{region_code} } or next;
        $total[$_] += $t->[$_] for 0 .. 2;
        push @bad, "province summary $row->{region_code}: $row->{last_year_total}/$row->{demand_total}/$row->{hospitals}"
                   . " against lines @$t"
            unless $row->{last_year_total} == $t->[0] && $row->{demand_total} == $t->[1] && $row->{hospitals} == $t->[2];
    }
    ($st, $d) = call('lcb_admin', 'GET', "/api/review/summary?project=$pid");
    my ($ln) = grep { $_->{region_code} eq '210000' } @{ $d->{items} || [] };
    push @bad, "alliance summary: " . ($ln ? "$ln->{last_year_total}/$ln->{demand_total}/$ln->{hospitals}" : 'no row')
               . " against lines @total"
        unless $ln && $ln->{last_year_total} == $total[0] && $ln->{demand_total} == $total[1] && $ln->{hospitals} == $total[2];

    # the national CSV adds up to the same
    my ($cst, undef, $raw) = vbp_api($base, $as{lcb_admin}, 'GET', "/api/review/export?project=$pid");
    my ($ly, $dm) = (0, 0);
    for (split /\r\n/, $raw) {
        my @c = /"((?:[^"]|"")*)"/g;
        next unless @c == 7 && $c[5] =~ /^\d+$/;
        $ly += $c[5];
        $dm += $c[6];
    }
    push @bad, "national CSV: $ly/$dm against lines $total[0]/$total[1]"
        unless $cst == 200 && $ly == $total[0] && $dm == $total[1];

    # the stored totals of each filing are its lines'
    my $stale = vbp_sql("SELECT count(*) FROM filings f JOIN review_items i ON i.id = f.item_id"
                        . " JOIN projects p ON p.id = i.project_id JOIN product_lines pl ON pl.code = p.product_line"
                        . " CROSS JOIN LATERAL (SELECT coalesce(sum(l.last_year), 0) AS ly,"
                        . "  coalesce(sum(l.demand), 0) AS dm, coalesce(sum(l.intended), 0) AS it, count(*) AS n,"
                        . "  count(*) FILTER (WHERE 'threshold' = ANY (pl.rules)"
                        . "                     AND vbp_beyond(l.last_year, l.demand, p.threshold_pct)) AS b"
                        . "  FROM filing_lines l WHERE l.item_id = f.item_id) s WHERE i.project_id = $pid"
                        . " AND (f.last_year_total, f.demand_total, f.intended_total, f.lines, f.beyond)"
                        . "     IS DISTINCT FROM (s.ly, s.dm, s.it, s.n, s.b)");
    push @bad, "$stale filings whose stored totals are not their lines'" if $stale;

    # every item's last event leads to the state it is in
    my $astray = vbp_sql("SELECT count(*) FROM review_items i JOIN LATERAL (SELECT e.to_state FROM review_events e"
                         . " WHERE e.item_id = i.id ORDER BY e.id DESC LIMIT 1) e ON true"
                         . " WHERE i.project_id = $pid AND e.to_state IS DISTINCT FROM i.state");
    push @bad, "$astray items not in the state their last event says" if $astray;

    is(scalar(@bad), 0, "$when: every level's totals are the lines', every state its last event's") or diag(join "\n", @bad);
}

# hospitals of the project without an account never file: each city takes
# them out (无需上报), as a city does for one with nothing to report
for my $city (sort keys %city_admin) {
    my @idle = vbp_sql("SELECT h.id FROM review_items h JOIN orgs o ON o.id = h.org_id WHERE h.project_id = $pid"
                       . " AND h.parent_id = $city_item{$city} AND NOT EXISTS (SELECT 1 FROM users u"
                       . " WHERE u.org_id = o.id AND u.password_hash <> '!')");
    next unless @idle;
    my ($st) = call($city_admin{$city}, 'POST', '/api/review/act', { action => 'exempt', ids => [map { 0 + $_ } @idle], reason => '无账号' });
    is($st, 200, "$city exempts its " . scalar(@idle) . " hospitals without an account");
}

check('before the sequence');
for my $step (1 .. $steps) {
    refresh();
    my $r = rand;
    if    ($r < 0.30) { random_save() }
    elsif ($r < 0.48) { random_hospital_action() }
    elsif ($r < 0.76) { random_city_act() }
    elsif ($r < 0.86) { random_city_own() }
    elsif ($r < 0.95) { random_province() }
    else              { random_alliance() }
    push_up() if $step % 150 == 75;
    # the project's threshold moved: every filing's 超出阈值 count with it
    vbp_sql("UPDATE projects SET threshold_pct = 10 + (threshold_pct + 7) % 40 WHERE id = $pid")
        if $step % 200 == 150;
    check("after step $step") if $step % 100 == 0;
}
check('at the end') if $steps % 100;

is($server_errors, 0, "$calls calls: no answer 5xx");
diag(join ', ', map { "$_ x$outcome{$_}" } sort keys %outcome);
# the sequence went through every level: things moved, not only refusals
my $events = vbp_sql("SELECT string_agg(DISTINCT i.level || ':' || e.action, ' ') FROM review_events e"
                     . " JOIN review_items i ON i.id = e.item_id WHERE i.project_id = $pid");
diag("events: $events");
like($events, qr/hospital:submit/, '... hospitals submitted');
like($events, qr/hospital:(approve|return)/, '... cities reviewed them');
like($events, qr/city:submit/, '... cities submitted');
like($events, qr/city:(approve|return)/, '... the province reviewed them');
like($events, qr/province:submit/, '... the province submitted');
like($events, qr/province:(approve|return)/, '... the alliance reviewed it');

vbp_sql("DELETE FROM projects WHERE id = $pid");
done_testing();
