package Test::Nginx::Socket;

# Fallback implementation of Test::Nginx::Socket (see ../../README).
#
# Like the CPAN module this class inherits from Test::Base, so test files
# get Test::Base's block/filter machinery ("--- name eval", ONLY/SKIP/LAST,
# blocks(), plan(), Test::More's is/like/... ) plus the functions below.
# All of the work is done in Test::Nginx::Util.
#
# Note: "use Test::Base -Base" runs Spiffy's source filter over this file,
# which would add "my $self = shift;" to every prototype-less named sub.
# That is why this file defines no subs of its own.

use strict;
use warnings;

use Test::Base -Base;
use Test::Nginx::Util;

our $VERSION = '0.01';

our @EXPORT = qw(
    run_tests run_test repeat_each no_shuffle no_long_string log_level
    master_on master_off master_process_enabled workers worker_connections
    env_to_nginx no_root_location server_name server_addr server_root
    html_dir server_port server_port_for_client timeout config_preamble
    use_hup add_block_preprocessor add_cleanup_handler
    add_response_body_check bail_out is_str check_accum_error_log
    $ServerPort $ServerPortForClient $ServerAddr $ServerName $ServRoot
    $HtmlDir $ErrLogFile $AccLogFile $NginxBinary $NginxVersion
    $RepeatEach $NoLongString
);
