package textdiff

// Reasons shared by several cases.
const (
	refusedByDesign = "vbproxy refuses this meta flag by design (a Couchbase node cannot honour it) with " +
		"\"CLIENT_ERROR flag '<f>' not supported by this proxy\"; memcached executes it"
	newerMeta = "vbproxy follows memcached 1.6.40's meta semantics here, which the memcached 1.6.18-1.6.39 " +
		"in these tests predates"
	flushPolicy = "flush_all is answered under the proxy's flush policy; it matches memcached only " +
		"when flush is allowed"
	cbItemSize = "the upstream's item size limit decides: memcached here has -I 2m, Couchbase 20 MB " +
		"(matches when the proxy's own max value is 2 MB)"
	dropsPending = "memcached also discards the replies it has not yet written to the commands before this one " +
		"in the same read (conn_release_items / closing); vbproxy writes them, which a client can rely on"
	cbTouchCAS   = "a Couchbase touch (GAT, TOUCH) is a mutation that gives the item a new CAS; memcached's keeps the CAS"
	cbCounterPad = "memcached rewrites a counter that got shorter (decr, incr past 2^64) in place, space-padded " +
		"to its old length; Couchbase stores the bare number"
)

// big is a value over ItemSizeMax; mid one over memcached's default 1 MB
// but under ItemSizeMax.
const (
	bigLen = "3145728"
	midLen = "1572864"
)

// Cases returns the hand-written edge cases, from the memcached 1.6 facts:
// every classic and meta command, every error string, what each error does
// to the data block, noreply, quiet mode, limits and line endings.
func Cases() []Case {
	var cs []Case
	for _, group := range [][]Case{storageCases(), retrievalCases(), otherCases(), framingCases(),
		metaGetCases(), metaSetCases(), metaDeleteArithCases()} {
		cs = append(cs, group...)
	}
	return cs
}

func c(name string, steps ...string) Case { return Case{Name: name, Steps: steps} }

func storageCases() []Case {
	return []Case{
		c("set_get", "set {k}a 5 0 3\r\nabc\r\nget {k}a\r\n"),
		c("set_empty_value", "set {k}a 0 0 0\r\n\r\nget {k}a\r\n"),
		c("set_value_with_crlf_inside", "set {k}a 0 0 6\r\na\r\nb\r\n\r\nget {k}a\r\n"),
		c("set_noreply", "set {k}a 0 0 1 noreply\r\nx\r\nget {k}a\r\n"),
		c("set_extra_token_not_noreply_is_ignored", "set {k}a 0 0 1 junk\r\nx\r\nget {k}a\r\n"),
		c("set_too_few_tokens_error_data_parsed", "set {k}a 0 0\r\nxx\r\nget {k}a\r\n"),
		c("set_too_many_tokens", "set {k}a 0 0 1 noreply x\r\nx\r\n"),
		c("set_bad_flags_not_swallowed", "set {k}a abc 0 1\r\nx\r\nget {k}a\r\n"),
		c("set_negative_flags", "set {k}a -1 0 1\r\nx\r\n"),
		c("set_flags_wrap_32_bits", "set {k}a 4294967296 0 1\r\nx\r\nset {k}b 4294967295 0 1\r\ny\r\nget {k}a {k}b\r\n"),
		c("set_flags_plus_sign_and_tab", "set {k}a +7 0 1\r\nx\r\nset {k}b 8\tzz 0 1\r\ny\r\nget {k}a {k}b\r\n"),
		c("set_bad_exptime", "set {k}a 0 abc 1\r\nx\r\n"),
		c("set_numeric_quirks", "set {k}a -18446744073709551615 0 1\r\nx\r\nset {k}b 0 9223372036854775807 1\r\ny\r\n"+
			"set {k}c 0 0 1\t\r\nz\r\nget {k}a {k}b {k}c\r\n"),
		c("set_bad_length", "set {k}a 0 0 abc\r\nx\r\nset {k}a 0 0 -1\r\nx\r\n"),
		c("set_length_wraps_32_bits", "set {k}a 0 0 4294967297\r\nx\r\nget {k}a\r\n"),
		c("set_bad_data_chunk", "set {k}a 0 0 1\r\nxy\r\nget {k}a\r\n"),
		c("set_bad_data_chunk_noreply", "set {k}a 0 0 1 noreply\r\nxy\r\nget {k}a\r\n"),
		c("set_data_ends_in_bare_newline", "set {k}a 0 0 1\r\nx\nget {k}a\r\n"),
		c("set_key_250_ok_251_refused", "set {key:250} 0 0 1\r\nx\r\nget {key:250}\r\nset {key:251} 0 0 1\r\nx\r\n"),
		c("set_key_too_long_noreply", "set {key:251} 0 0 1 noreply\r\nx\r\nget {k}a\r\n"),
		c("set_errors_suppressed_after_noreply", "set {k}a x y z noreply\r\nget {k}a\r\n"),
		c("set_negative_exptime_expires", "set {k}a 0 -1 1\r\nx\r\nget {k}a\r\n"),
		c("set_absolute_past_exptime_expires", "set {k}a 0 100000000 1\r\nx\r\nget {k}a\r\n"),
		c("set_relative_and_absolute_future_exptime", "set {k}a 0 1000 1\r\nx\r\nset {k}b 0 2000000000 1\r\ny\r\nget {k}a {k}b\r\n"),
		{Name: "set_value_over_1mb_default", Steps: []string{"set {k}a 0 0 " + midLen + "\r\n{bytes:" + midLen + "}\r\nget {k}a\r\n"}},
		{Name: "set_too_large_swallowed_and_old_value_unlinked", Steps: []string{
			"set {k}a 0 0 1\r\nx\r\nset {k}a 0 0 " + bigLen + "\r\n{bytes:" + bigLen + "}\r\nget {k}a\r\n"},
			CouchbaseDiffers: cbItemSize},
		{Name: "set_too_large_noreply", Steps: []string{
			"set {k}a 0 0 " + bigLen + " noreply\r\n{bytes:" + bigLen + "}\r\nget {k}a\r\n"},
			CouchbaseDiffers: cbItemSize},
		{Name: "add_too_large_keeps_old_value", Steps: []string{
			"set {k}a 0 0 1\r\nx\r\nadd {k}a 0 0 " + bigLen + "\r\n{bytes:" + bigLen + "}\r\nget {k}a\r\n"},
			CouchbaseDiffers: cbItemSize},
		c("add", "add {k}a 1 0 1\r\nx\r\nadd {k}a 2 0 1\r\ny\r\nget {k}a\r\nadd {k}a 0 0 1 noreply\r\nz\r\n"),
		c("replace", "replace {k}a 0 0 1\r\nx\r\nset {k}a 0 0 1\r\nx\r\nreplace {k}a 3 0 1\r\ny\r\nget {k}a\r\n"),
		c("append_prepend", "append {k}a 0 0 1\r\nx\r\nprepend {k}a 0 0 1\r\nx\r\nset {k}a 7 0 1\r\nm\r\n"+
			"append {k}a 99 -1 2\r\nzz\r\nprepend {k}a 98 0 2\r\naa\r\nget {k}a\r\n"),
		c("append_noreply_miss", "append {k}a 0 0 1 noreply\r\nx\r\nget {k}a\r\n"),
		c("cas_flow",
			"set {k}a 0 0 1\r\nx\r\ngets {k}a\r\n",
			"cas {k}a 0 0 1 {casof:a}\r\ny\r\n",
			"cas {k}a 0 0 1 {casof:a}\r\nz\r\ngets {k}a\r\n",
			"cas {k}a 0 0 1 {casof:a} noreply\r\nw\r\nget {k}a\r\n",
			"cas {k}nope 0 0 1 123\r\nz\r\n"),
		c("cas_unique_zero", "cas {k}a 0 0 1 0\r\nz\r\nset {k}a 0 0 1\r\nx\r\ncas {k}a 0 0 1 0\r\nz\r\nget {k}a\r\n"),
		c("cas_noreply_in_cas_position", "cas {k}a 0 0 1 noreply\r\nx\r\n"),
		c("cas_bad_unique", "cas {k}a 0 0 1 abc\r\nx\r\ncas {k}a 0 0 1 -5\r\nx\r\ncas {k}a 0 0 1\r\nx\r\n"),
		c("store_commands_split_across_writes", "set {k}a 0 0 10\r\n01234{nosync}", "56789\r\nget {k}a\r\n"),
		c("store_line_split_across_writes", "se{nosync}", "t {k}a 0 0 1\r\nx\r\nget {k}a\r\n"),
	}
}

func retrievalCases() []Case {
	return []Case{
		c("get_miss", "get {k}a\r\n"),
		c("get_multi_duplicates_and_misses",
			"set {k}a 1 0 1\r\nA\r\nset {k}b 2 0 2\r\nBB\r\nget {k}a {k}b {k}a {k}nope {k}a\r\ngets {k}b {k}b\r\n"),
		c("get_key_too_long_anywhere_drops_the_line", "set {k}a 0 0 1\r\nx\r\n", "get {k}a {key:251} {k}a\r\nget {k}a\r\n"),
		{Name: "get_key_too_long_drops_earlier_pipelined_replies", Steps: []string{"set {k}a 0 0 1\r\nx\r\nget {k}a {key:251}\r\n"},
			ProxyDiffers: dropsPending},
		c("get_key_250", "set {key:250} 0 0 1\r\nx\r\nget {key:250}\r\n"),
		c("get_without_key", "get\r\ngets\r\nget \r\n"),
		c("get_100_keys", "set {k}m3 0 0 1\r\n3\r\nset {k}m97 0 0 2\r\n97\r\nget {keys:100}\r\n"),
		c("get_keys_over_2048_bytes_split", "set {k}m399 0 0 1\r\nz\r\nget {keys:400}{nosync}", "\r\n"),
		c("bget_alias", "set {k}a 0 0 1\r\nx\r\nbget {k}a\r\n"),
		c("get_http_version_is_a_key", "get / HTTP/1.1\r\n"),
		{Name: "gat_gats", Steps: []string{"set {k}a 3 0 1\r\nx\r\ngat 0 {k}a {k}nope\r\ngats 100 {k}a {k}a\r\ngat -1 {k}a\r\nget {k}a\r\n"},
			CouchbaseDiffers: cbTouchCAS},
		c("gat_errors", "gat abc {k}a\r\ngat\r\ngat 10\r\ngat 10 {key:251}\r\n"),
		c("touch", "touch {k}a 10\r\nset {k}a 0 0 1\r\nx\r\ntouch {k}a 10\r\ntouch {k}a 10 noreply\r\n"+
			"touch {k}a abc\r\ntouch {k}a\r\ntouch {k}a -1\r\nget {k}a\r\n"),
		c("touch_key_too_long", "touch {key:251} 10\r\n"),
	}
}

func otherCases() []Case {
	return []Case{
		c("delete", "delete {k}a\r\nset {k}a 0 0 1\r\nx\r\ndelete {k}a\r\nget {k}a\r\n"),
		c("delete_legacy_zero_and_noreply", "set {k}a 0 0 1\r\nx\r\ndelete {k}a 0\r\nset {k}a 0 0 1\r\nx\r\n"+
			"delete {k}a 0 noreply\r\nset {k}a 0 0 1\r\nx\r\ndelete {k}a noreply\r\nget {k}a\r\n"),
		c("delete_usage_errors", "delete {k}a 1\r\ndelete {k}a 1 noreply\r\ndelete {k}a x y z\r\ndelete\r\n"+
			"delete {k}a noreply 0\r\ndelete {key:251}\r\n"),
		c("incr_decr", "set {k}n 0 0 2\r\n10\r\nincr {k}n 5\r\ndecr {k}n 20\r\nincr {k}n 18446744073709551615\r\n"+
			"incr {k}n 1\r\nincr {k}nope 1\r\ndecr {k}nope 1\r\n"),
		c("incr_wraps_at_2_64", "set {k}n 0 0 20\r\n18446744073709551615\r\nincr {k}n 2\r\n"),
		c("incr_errors", "set {k}s 0 0 3\r\nabc\r\nincr {k}s 1\r\ndecr {k}s 1\r\nincr {k}s abc\r\nincr {k}s -1\r\n"+
			"incr {k}s 18446744073709551616\r\nincr {k}s\r\nincr {k}s 1 2\r\nincr {key:251} 1\r\n"),
		c("incr_errors_noreply", "set {k}s 0 0 3\r\nabc\r\nincr {k}s 1 noreply\r\nincr {k}s abc noreply\r\n"+
			"decr {k}nope 1 noreply\r\nmn\r\n"),
		c("incr_value_too_long_for_a_number", "set {k}n 0 0 21\r\n123456789012345678901\r\nincr {k}n 1\r\n"),
		{Name: "decr_keeps_padding", Steps: []string{"set {k}n 0 0 3\r\n100\r\ndecr {k}n 91\r\nget {k}n\r\nincr {k}n 991\r\nget {k}n\r\n"},
			CouchbaseDiffers: cbCounterPad},
		c("verbosity", "verbosity 1\r\nverbosity\r\nverbosity x\r\nverbosity 1 noreply\r\nverbosity noreply\r\n"+
			"verbosity 0 junk\r\nverbosity 0\r\n"),
		c("version", "version\r\nversion x y\r\n"),
		c("stats", "stats\r\n"),
		{Name: "stats_arguments", Steps: []string{"stats reset\r\nstats nonsense\r\n"},
			ProxyDiffers: "stats arguments are answered with the proxy's own statistics"},
		{Name: "admin_commands", Steps: []string{"shutdown\r\nslabs automove 1\r\nlru_crawler x\r\n"},
			ProxyDiffers: "memcached administration commands are not served by the proxy (ERROR)"},
		{Name: "flush_all", Steps: []string{"set {k}a 0 0 1\r\nx\r\nflush_all\r\nget {k}a\r\n" +
			"set {k}a 0 0 1\r\nx\r\nflush_all noreply\r\nget {k}a\r\nflush_all 0\r\nflush_all 0 noreply\r\nmn\r\n"},
			ProxyDiffers: flushPolicy},
		{Name: "flush_all_errors", Steps: []string{"flush_all abc\r\nflush_all 0 0 0\r\nflush_all noreply 0\r\nflush_all abc noreply\r\nmn\r\n"},
			ProxyDiffers: flushPolicy},
		c("quiet_noreply_pipeline", "set {k}a 0 0 1\r\nx\r\nadd {k}a 0 0 1 noreply\r\ny\r\nreplace {k}nope 0 0 1 noreply\r\ny\r\n"+
			"append {k}a 0 0 1 noreply\r\nz\r\nprepend {k}a 0 0 1 noreply\r\nw\r\ntouch {k}a 0 noreply\r\n"+
			"delete {k}nope noreply\r\nget {k}a\r\n"),
		c("classic_and_meta_mixed", "set {k}a 9 0 2\r\nhi\r\nmg {k}a v f s\r\nms {k}b 2 F3\r\nyo\r\nget {k}b\r\n"),
	}
}

func framingCases() []Case {
	return []Case{
		c("bare_newline_endings", "set {k}a 0 0 3\nabc\r\nget {k}a\nmg {k}a v\nmn\n"),
		c("repeated_and_leading_spaces", "set  {k}a   1  0   2\r\nhi\r\n   get   {k}a    {k}a  \r\n  mg  {k}a  v   s \r\n"),
		c("unknown_commands", "foo\r\nfoo bar noreply\r\nx\r\n\r\n \r\n \n\nGET {k}a\r\nmz {k}a\r\nmgg {k}a\r\n"),
		c("nul_ends_the_line", "set {k}a 0 0 1\r\nx\r\nget {k}a\x00{k}b\r\nget {k}b\x00\r\n"),
		c("carriage_return_inside_tokens", "set {k}a 0 0 1\r\r\nx\r\nget {k}a\r\r\n"),
		{Name: "http_request_line_closes", Steps: []string{"GET / HTTP/1.1\r\n"}, Closes: true},
		{Name: "http_request_line_after_commands_closes", Steps: []string{"set {k}a 0 0 1\r\nx\r\n", "POST /x HTTP/1.0\r\nget {k}a\r\n"}, Closes: true},
		{Name: "http_request_line_drops_earlier_pipelined_replies", Steps: []string{"set {k}a 0 0 1\r\nx\r\nPOST /x HTTP/1.0\r\n"},
			Closes: true, ProxyDiffers: dropsPending},
		{Name: "line_over_2048_bytes_drops_earlier_pipelined_replies", Steps: []string{"set {k}a 0 0 1\r\nx\r\nset {fill:3000:x}"},
			Closes: true, ProxyDiffers: dropsPending},
		{Name: "line_over_2048_bytes_closes", Steps: []string{"set {fill:3000:x}"}, Closes: true},
		{Name: "gat_line_over_2048_bytes_closes", Steps: []string{"gat 0 {fill:3000:x}"}, Closes: true},
		{Name: "get_after_101_spaces_over_2048_closes", Steps: []string{"{fill:101: }get {keys:400}"}, Closes: true},
		c("get_after_100_spaces_over_2048_waits", "{fill:100: }get {keys:400}{nosync}", "\r\n"),
		{Name: "quit_flushes_then_closes", Steps: []string{"set {k}a 0 0 1\r\nx\r\nget {k}a\r\nquit\r\nget {k}a\r\n"}, Closes: true},
		c("pipeline_in_one_write", "set {k}a 0 0 1\r\n1\r\nset {k}b 0 0 1\r\n2\r\nincr {k}a 4\r\nget {k}a {k}b\r\n"+
			"delete {k}b\r\nmg {k}a v\r\nmg {k}b v\r\nmn\r\n"),
	}
}

func metaGetCases() []Case {
	return []Case{
		c("mg_hit_flags_in_request_order", "set {k}a 5 0 3\r\nabc\r\nmg {k}a v\r\nmg {k}a\r\nmg {k}a s f v k Oxyz\r\n"+
			"mg {k}a k c v\r\nmg {k}a Oab k s\r\n"),
		c("mg_miss", "mg {k}nope v\r\nmg {k}nope k Oab v\r\nmg {k}nope Oab s f c k\r\n"),
		c("mg_quiet_hides_miss_only", "set {k}a 0 0 1\r\nx\r\nmg {k}nope q v\r\nmg {k}a q v k\r\nmg {k}nope q k\r\nmn\r\n"),
		c("mg_flag_errors", "mg {k}a v v\r\nmg {k}a z\r\nmg {k}a noreply\r\nmg {k}a Tabc\r\nmg {k}a T\r\n"+
			"mg {k}a Tabc z\r\nmg {k}a Tabc Rxyz\r\nmg {k}a Mxx\r\nmg {k}a x\r\nmg {k}a \x7f\r\n"),
		c("mg_token_limit", "set {k}a 0 0 1\r\nx\r\nmg {k}a v f c s k O1 q u P L I F0 MS J0 D1 T0 t\r\n"+
			"mg {k}a v v v v v v v v v v v v v v v v v v\r\n"),
		c("mg_key_limits", "mg {key:251} v\r\nmg\r\nmg \r\nset {key:250} 0 0 1\r\nx\r\nmg {key:250} v k\r\n"),
		c("mg_base64_key", "ms {b64:bin} 2 b\r\nhi\r\nmg {b64:bin} b v k\r\nmg {b64:bin} b k c\r\nmg {b64:nope} b k v\r\n"+
			"md {b64:bin} b k\r\nmg {b64:bin} b v\r\n"),
		c("mg_base64_lenient_decoding", "ms {b64:bin} 1 b\r\nx\r\nmg {b64:bin}!! b v\r\n"),
		c("mg_base64_errors", "mg !!!! b v\r\nmg Zm9 b v\r\nmg ==== b v\r\nmg A=== b v\r\n"),
		c("mg_touch_ttl", "set {k}a 0 0 1\r\nx\r\nmg {k}a T100 t v\r\nmg {k}a T0 t\r\nmg {k}a T30 s f\r\n"+
			"mg {k}a T30 c k\r\nmg {k}a T-1 v\r\nmg {k}a v\r\nmg {k}nope T10 t v\r\n"),
		c("mg_opaque_limit", "set {k}a 0 0 1\r\nx\r\nmg {k}a O{fill:31:x} v\r\nmg {k}a O{fill:32:x} v\r\n"+
			"mg {k}nope O{fill:32:x} v q\r\n"),
		c("mg_ignored_flags", "set {k}a 0 0 1\r\nx\r\nmg {k}a u v\r\nmg {k}a P L v\r\nmg {k}a I F5 J1 D2 MS v\r\nmg {k}a vfc\r\n"),
		{Name: "mg_hit_and_last_access_refused", Steps: []string{"set {k}a 0 0 1\r\nx\r\nmg {k}a h\r\nmg {k}a l v\r\n"},
			ProxyDiffers: refusedByDesign},
		{Name: "mg_vivify_recache_refused", Steps: []string{"mg {k}a N30 v\r\nmg {k}a R30 v\r\nmg {k}b N30 q\r\nmn\r\n"},
			ProxyDiffers: refusedByDesign},
		{Name: "mg_ttl_without_T_refused", Steps: []string{"set {k}a 0 100 1\r\nx\r\nmg {k}a t v\r\n"},
			ProxyDiffers: "a GET reply carries no TTL: vbproxy answers mg t only with a relative T on the same line"},
		{Name: "mg_compare_cas", Steps: []string{"set {k}a 0 0 1\r\nx\r\nmg {k}a c k\r\n", "mg {k}a C{casof:a} v k\r\nmg {k}a C1 v\r\n"},
			ProxyDiffers: newerMeta + ": mg C omits the value when the CAS matches (1.6.18 ignores C on mg)"},
		{Name: "mg_new_cas_flag_refused", Steps: []string{"mg {k}a E5 v\r\n"},
			ProxyDiffers: refusedByDesign + " (memcached 1.6.18 says CLIENT_ERROR invalid flag)"},
		{Name: "key_stored_binary_read_as_text", Steps: []string{"ms {b64:x} 1 b\r\nx\r\nmg {k}x k v\r\n"},
			ProxyDiffers: "memcached remembers that a key was stored with b and re-encodes it for k; the binary protocol does not carry that"},
		{Name: "key_created_by_ma_read_back_with_b", Steps: []string{"ma {b64:v} b N0\r\nmg {b64:v} b k v\r\n"},
			ProxyDiffers: "an item memcached's ma created (or grew) has no record that its key was binary, so mg k prints it raw; vbproxy re-encodes every key sent with b"},
		{Name: "me_refused", Steps: []string{"set {k}a 0 0 1\r\nx\r\nme {k}a\r\n"},
			ProxyDiffers: "vbproxy refuses me (no item debug data over the binary protocol)"},
		c("mn", "mn\r\nmn foo bar\r\n"),
	}
}

func metaSetCases() []Case {
	return []Case{
		c("ms_basic_and_return_flags", "ms {k}a 3\r\nabc\r\nms {k}a 3 T0 F7 c k Oq1\r\nabc\r\nmg {k}a v f\r\n"),
		c("ms_quiet_hides_HD_only", "ms {k}a 1 q\r\nx\r\nms {k}a 1 q ME k\r\ny\r\nmn\r\n"),
		c("ms_modes", "ms {k}a 1 ME\r\nx\r\nms {k}a 1 ME\r\ny\r\nms {k}b 1 MR\r\nx\r\nms {k}b 1 MA\r\nx\r\n"+
			"ms {k}b 1 MP\r\nx\r\nms {k}a 1 MA\r\nz\r\nms {k}a 1 MP\r\nw\r\nms {k}a 2 MR F9\r\nrr\r\nmg {k}a v f\r\n"+
			"ms {k}a 1 MS\r\nS\r\nmg {k}a v\r\n"),
		c("ms_mode_errors_swallow", "ms {k}a 1 MX\r\nx\r\nms {k}a 1 Mxx\r\nx\r\nms {k}a 1 Me\r\nx\r\nmn\r\n"),
		c("ms_compare_cas",
			"ms {k}a 1 c k\r\nx\r\n",
			"ms {k}a 1 C{casof:a} c k\r\ny\r\n",
			"ms {k}a 1 C{casof:a}\r\nz\r\nms {k}a 1 C1\r\nq\r\nms {k}a 1 C1 MA\r\nz\r\nms {k}a 1 C0 k\r\nz\r\nms {k}nope 1 C0\r\nz\r\n"+
				"ms {k}nope 1 C5\r\nz\r\nms {k}nope 1 C5 MR\r\nz\r\nms {k}new 1 C5 ME\r\nz\r\nmg {k}a v\r\nmg {k}new v\r\n"),
		c("ms_cas_on_failure_is_zero", "ms {k}a 1\r\nx\r\nms {k}a 1 ME c k\r\nx\r\nms {k}nope 1 MR c\r\nx\r\n"),
		c("ms_line_errors_not_swallowed", "ms {k}a\r\nms {k}a abc\r\nxx\r\nms {k}a -1\r\nms {key:251} 1\r\nx\r\n"+
			"ms {k}a 1 v v v v v v v v v v v v v v v v v\r\nx\r\n"),
		c("ms_flag_errors_swallowed", "ms {k}a 2 z\r\nhi\r\nms {k}a 2 q q\r\nhi\r\nms {k}a 2 Tabc\r\nhi\r\n"+
			"ms {k}a 2 Fabc\r\nhi\r\nms {k}a 2 O{fill:32:x}\r\nhi\r\nms {k}a 2 Cx\r\nhi\r\nms !!!! 2 b\r\nhi\r\n"+
			"ms {k}a 2 Jx\r\nhi\r\nms {k}a 2 MX O{fill:32:x}\r\nhi\r\nmn\r\n"),
		c("ms_bad_data_chunk_shown_even_quiet", "ms {k}a 1 q\r\nxy\r\nms {k}a 1\r\nxy\r\nmn\r\n"),
		{Name: "ms_too_large_swallowed_and_unlinked", Steps: []string{
			"ms {k}a 1\r\nx\r\nms {k}a " + bigLen + " T0\r\n{bytes:" + bigLen + "}\r\nmg {k}a v\r\n"},
			CouchbaseDiffers: cbItemSize},
		{Name: "ms_append_too_large_unlinks", Steps: []string{
			"ms {k}a 1\r\nx\r\nms {k}a " + bigLen + " MA\r\n{bytes:" + bigLen + "}\r\nmg {k}a v\r\n"},
			ProxyDiffers: "memcached's ms drops the old value after any too-large store; a binary APPEND refused " +
				"by the upstream leaves it (matches when the proxy's own max value refuses the value first)"},
		c("ms_ignored_flags", "ms {k}a 1 f t v u h l\r\nx\r\nmg {k}a v\r\n"),
		c("ms_base64", "ms {b64:bin} 1 b k c\r\nx\r\nms {b64:bin} 1 b ME k\r\ny\r\nmg {b64:bin} b v\r\n"),
		{Name: "ms_stale_vivify_newcas_refused", Steps: []string{"ms {k}a 1 I\r\nx\r\nms {k}a 1 N30 MA\r\nx\r\nms {k}a 1 E5\r\nx\r\nmn\r\n"},
			ProxyDiffers: refusedByDesign},
		{Name: "ms_size_flag", Steps: []string{"ms {k}a 2 s\r\nhi\r\nms {k}a 1 s MA\r\nx\r\nmn\r\n"},
			ProxyDiffers: newerMeta + ": ms s returns the stored size (1.6.18 ignores it); refused for append/prepend"},
	}
}

func metaDeleteArithCases() []Case {
	return []Case{
		c("md_basic", "md {k}a\r\nset {k}a 0 0 1\r\nx\r\nmd {k}a k Oz\r\nmd {k}a Oz k\r\nmd {k}a q\r\nmd {k}a q\r\nmn\r\n"),
		c("md_compare_cas", "ms {k}a 1 c k\r\nx\r\n", "md {k}a C1\r\nmd {k}a C0\r\nmd {k}a C{casof:a} k\r\nmd {k}a C0\r\n"),
		c("md_errors", "md {k}a z\r\nmd {k}a q q\r\nmd {k}a Cabc\r\nmd {k}a O{fill:32:x}\r\nmd {key:251}\r\nmd\r\n"+
			"md {k}a v v v v v v v v v v v v v v v v v v\r\n"),
		c("md_ttl_without_I_is_ignored", "set {k}a 0 0 1\r\nx\r\nmd {k}a T30\r\nmg {k}a v\r\n"),
		{Name: "md_stale_tombstone_newcas_refused", Steps: []string{"set {k}a 0 0 1\r\nx\r\nmd {k}a I\r\nmd {k}a x\r\nmd {k}a E5\r\nmg {k}a v\r\n"},
			ProxyDiffers: refusedByDesign},
		c("ma_basic", "set {k}n 0 0 1\r\n5\r\nma {k}n\r\nma {k}n v\r\nma {k}n MD D3 v\r\nma {k}n M- v\r\nma {k}n M+ D10 v\r\n"+
			"ma {k}n MI v\r\nma {k}n MD D100 v\r\n"),
		c("ma_miss_and_vivify", "ma {k}m\r\nma {k}m N0 J10 v\r\nma {k}m v\r\nma {k}m2 N0 v\r\nma {k}m3 N-1 J7 v\r\nma {k}m3 v\r\n"),
		c("ma_return_flags", "set {k}n 0 0 1\r\n7\r\nma {k}n c k Oa v\r\nma {k}n Oa k\r\nma {k}nope k Oa v c\r\n"),
		c("ma_quiet_hides_success_only", "set {k}n 0 0 1\r\n1\r\nma {k}n q\r\nma {k}n q v\r\nma {k}nope q\r\nmn\r\nma {k}n v\r\n"),
		c("ma_non_numeric", "set {k}s 0 0 3\r\nabc\r\nma {k}s\r\nma {k}s q\r\nma {k}s v O1 k\r\n"),
		c("ma_errors", "set {k}n 0 0 1\r\n1\r\nma {k}n MX\r\nma {k}n Dabc\r\nma {k}n Jabc\r\nma {k}n z\r\nma {k}n v v\r\n"+
			"ma {k}n Mxx\r\nma {key:251}\r\nma\r\nma {k}n v v v v v v v v v v v v v v v v v v\r\n"),
		c("ma_opaque_too_long_still_applies", "set {k}n 0 0 1\r\n5\r\nma {k}n O{fill:32:x}\r\nma {k}n v\r\nma {k}nope O{fill:32:x}\r\n"),
		c("ma_base64", "set {k}bin 0 0 1\r\n1\r\nma {b64:bin} b v k\r\n"),
		{Name: "ma_cas_ttl_newcas_refused", Steps: []string{"set {k}n 0 0 1\r\n1\r\nma {k}n C1\r\nma {k}n T30\r\nma {k}n t\r\nma {k}n E5\r\nmg {k}n v\r\n"},
			ProxyDiffers: refusedByDesign},
		{Name: "ma_quiet_vivify", Steps: []string{"ma {k}n q N0\r\nmn\r\n"},
			ProxyDiffers: newerMeta + ": a quiet ma hides the HD of an autovivified counter (1.6.18 shows it)"},
		c("meta_quiet_pipeline_then_mn", "set {k}a 0 0 1\r\nx\r\nmg {k}a q v\r\nmg {k}b q v\r\nms {k}c 1 q\r\nx\r\n"+
			"md {k}nope q\r\nma {k}nope q\r\nmd {k}c q\r\nmn\r\n"),
	}
}
