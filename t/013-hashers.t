# Password hashing runs apart, with bounded concurrency (issue 8): the
# operations that hash (sign-in, password change and reset, account
# creation) go to the hash children (vbp-worker -a, vbp_hash_pass), never
# more at once than there are of them, at the lowest priority; saves and
# reads go on meanwhile.  Shown without a clock: with every hash child held
# busy, a sign-in waits while saves are answered, and it is answered once a
# child is free.  Plain Test::More.

use strict;
use warnings;
use lib 't/lib';
use VBP::Test;
use Test::More;
use HTTP::Tiny;
use IO::Select;
use IO::Socket::UNIX;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep);

my $base = vbp_nginx_start();
END { vbp_nginx_stop() }
my $http = HTTP::Tiny->new(timeout => 30);
my $pw = 'Hasher@Test2026';

my $master = VBP::Test::slurp("$VbpState/worker.pid");
my @hashers = split ' ', `pgrep -P $master -x vbp-hasher`;
ok(@hashers >= 1, scalar(@hashers) . ' hash children run');
my @classes = map { (split ' ', `ps -o cls= -p $_`)[0] // '' } @hashers;
is_deeply([sort @classes], [('IDL') x @hashers], '... all at the lowest priority (SCHED_IDLE)');

vbp_setup("user sy_admin password=$pw must_change=0 status=active");
vbp_setup("user H21010200011 password=$pw must_change=0 status=active");
my $t = vbp_setup("login sy_admin $pw");
my $target = vbp_sql("SELECT id FROM users WHERE username = 'H21010600377'");
END {     # demo data names a main account after its org
    vbp_sql("UPDATE users u SET display_name = o.name FROM orgs o"
            . " WHERE o.id = u.org_id AND u.id = $target") if $target;
}

# every hash child takes one idle connection and waits on it for a frame
(my $path = $ENV{TEST_NGINX_VBP_HASHER}) =~ s/^unix://;
my @held = map { IO::Socket::UNIX->new(Peer => $path, Type => SOCK_STREAM) or die "$path: $!" } @hashers;
sleep(0.5);

# a sign-in now: it has to wait for a hash child
pipe(my $rd, my $wr) or die;
my $signin = fork // die;
if ($signin == 0) {
    close $rd;
    my $cap = vbp_setup('captcha');
    my $r = HTTP::Tiny->new(timeout => 60)->post("$base/api/login", {
        headers => { Cookie => "vbp_cap=$cap->{'@CAPID@'}", 'Content-Type' => 'application/json' },
        content => encode_json({ username => 'H21010200011', password => $pw, captcha => $cap->{'@CAP@'} }) });
    syswrite $wr, "$r->{status}\n";
    POSIX::_exit(0);
}
close $wr;
sleep(1);

my $waiting = IO::Select->new($rd);
ok(!$waiting->can_read(0), 'with every hash child busy, a sign-in waits');

for my $i (1 .. 5) {
    my $r = $http->post("$base/api/users/update", {
        headers => { Cookie => "vbp_sid=$t->{'@SID@'}", 'X-CSRF-Token' => $t->{'@CSRF@'},
                     'Content-Type' => 'application/json' },
        content => encode_json({ id => $target + 0, display_name => "Hasher test $i", phone => '' }) });
    is($r->{status}, 200, "... while save $i is answered");
}
is($http->get("$base/api/org", { headers => { Cookie => "vbp_sid=$t->{'@SID@'}" } })->{status}, 200,
   '... and so is a read');
ok(!$waiting->can_read(0), '... and the sign-in still waits: no other child hashed it');

close $_ for @held;
ok($waiting->can_read(60), 'a hash child is free again: the sign-in is answered');
chomp(my $status = <$rd> // '');
is($status, 200, '... and signs in');
waitpid($signin, 0);

# the routes that hash are those marked vbp_hash (and nothing else is)
my $routes = VBP::Test::slurp("$VbpTop/conf/vbp-routes.conf");
my %hash_ops;
while ($routes =~ /location = (\S+) \{(.*?)\n\}/sg) {
    my ($loc, $body) = ($1, $2);
    next unless $body =~ /vbp_hash on/;
    $hash_ops{$_} = 1 for $body =~ /vbp_op (\S+) POST/g;
}
is_deeply([sort keys %hash_ops],
          [sort qw(auth.login auth.change_password users.create users.reset_password
                   subusers.create subusers.reset_password)],
          'every operation that hashes a password is routed to the hash children');

done_testing();
