// Package kvconn opens bootstrapped connections to Couchbase KV nodes (and
// plain memcached servers): dial, TLS, HELLO, SASL (SCRAM-SHA512/256/1 or
// PLAIN) and SELECT_BUCKET, with ordinary blocking I/O. It is the one
// implementation of that handshake in vbproxy: proxy/upstream uses it for
// the data connections (then hands the socket to an event loop) and vbmap
// for its config connection (CCCP and clustermap notifications).
//
//	c, err := kvconn.Dial(ctx, "10.0.0.1:11210", kvconn.Options{
//		Bucket: "default", User: "app", Password: pw,
//		Features: []uint16{kvconn.FeatureXError, kvconn.FeatureSelectBucket, kvconn.FeatureDuplex},
//	})
//	// c.Conn, c.Reader (bytes read past the handshake stay buffered there),
//	// c.Has(kvconn.FeatureDuplex), c.Mech, c.Plain
//
// The handshake is pipelined as the Couchbase SDKs do it: HELLO with
// SASL_LIST_MECHS, then SASL_AUTH (PLAIN, with SELECT_BUCKET behind it) or
// SASL_AUTH and SASL_STEP (SCRAM, SELECT_BUCKET behind the step). The
// mechanism is the best the node lists in the order SCRAM-SHA512,
// SCRAM-SHA256, SCRAM-SHA1, PLAIN; over TLS PLAIN comes first unless
// Options.SCRAMOverTLS. SCRAM uses github.com/xdg-go/scram and verifies the
// server's final signature; Options.SCRAM caches the salted password
// across dials.
//
// Without credentials the node may be plain memcached: memcached 1.6
// answers an unknown command carrying a body and then loses the commands
// that follow, so the first HELLO is empty, and UNKNOWN_COMMAND ends the
// handshake (Conn.Plain).
//
// With Duplex asked for, a node may push (magic 0x82: a clustermap change
// notification) as soon as its HELLO reply has enabled it; pushes that
// arrive between the handshake's replies are skipped (a config connection
// fetches the config right after the handshake, so nothing is lost), and
// one that arrives after the last reply stays buffered in Conn.Reader for
// the caller.
package kvconn
