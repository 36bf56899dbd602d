package sim

import (
	"fmt"
	"time"
)

// Scopes and collections: every bucket has a manifest (bucket.manifest),
// changed through these calls or the REST API (mgmt_collections.go). A change
// publishes a new config revision (its collectionsManifestUid changes), and
// dropping a collection deletes its documents from every copy of every
// vBucket. IDs are never reused: a recreated collection gets a new ID.

// CreateScope creates scope name in bucket and returns the new manifest
// UID. Errors are *ManifestError (or ErrUnknownBucket, ErrNoCollections).
func (c *Cluster) CreateScope(bucket, name string) (uint64, error) {
	return c.changeManifest(bucket, func(m *manifest) (*manifest, []uint32, error) {
		nm, err := m.withScope(name)
		return nm, nil, err
	})
}

// DropScope drops scope name of bucket with its collections and their
// documents, and returns the new manifest UID.
func (c *Cluster) DropScope(bucket, name string) (uint64, error) {
	return c.changeManifest(bucket, func(m *manifest) (*manifest, []uint32, error) {
		return m.withoutScope(name)
	})
}

// CreateCollection creates collection name in scope of bucket and returns
// the new manifest UID.
func (c *Cluster) CreateCollection(bucket, scope, name string) (uint64, error) {
	return c.changeManifest(bucket, func(m *manifest) (*manifest, []uint32, error) {
		nm, err := m.withCollection(scope, name)
		return nm, nil, err
	})
}

// DropCollection drops scope.name of bucket and its documents, and returns
// the new manifest UID. The default collection may be dropped too (it cannot
// be recreated): clients without collections then get errors for every key.
func (c *Cluster) DropCollection(bucket, scope, name string) (uint64, error) {
	return c.changeManifest(bucket, func(m *manifest) (*manifest, []uint32, error) {
		nm, cid, err := m.withoutCollection(scope, name)
		return nm, []uint32{cid}, err
	})
}

// CollectionID returns the ID of scope.name in bucket, false when there is
// none (or collections are off).
func (c *Cluster) CollectionID(bucket, scope, name string) (uint32, bool) {
	b := c.bucketIndex(bucket)
	if b < 0 || c.opts.NoCollections {
		return 0, false
	}
	return c.buckets[b].manifest.Load().collectionID(scope, name)
}

// ManifestUID returns bucket's current manifest UID (0 for an unknown
// bucket or without collections).
func (c *Cluster) ManifestUID(bucket string) uint64 {
	b := c.bucketIndex(bucket)
	if b < 0 || c.opts.NoCollections {
		return 0
	}
	return c.buckets[b].manifest.Load().uid
}

// ManifestJSON returns bucket's manifest as GET .../scopes answers it, nil
// for an unknown bucket or without collections.
func (c *Cluster) ManifestJSON(bucket string) []byte {
	b := c.bucketIndex(bucket)
	if b < 0 || c.opts.NoCollections {
		return nil
	}
	return c.buckets[b].manifest.Load().json()
}

// GetFrom reads key from the active copy of its vBucket in collection
// scope.name: the oracle for collection tests.
func (c *Cluster) GetFrom(bucket, scope, name string, key []byte) (value []byte, ok bool) {
	cid, ok := c.CollectionID(bucket, scope, name)
	if !ok {
		return nil, false
	}
	return c.get(c.bucketIndex(bucket), cid, key, 0)
}

// changeManifest applies change to bucket's manifest, publishes a config
// revision carrying the new UID and deletes the documents of the dropped
// collections.
func (c *Cluster) changeManifest(bucket string, change func(*manifest) (*manifest, []uint32, error)) (uint64, error) {
	b := c.bucketIndex(bucket)
	if b < 0 {
		return 0, fmt.Errorf("%w %q", ErrUnknownBucket, bucket)
	}
	if c.opts.NoCollections {
		return 0, ErrNoCollections
	}
	bk := c.buckets[b]
	bk.manifestMu.Lock()
	defer bk.manifestMu.Unlock()
	m, dropped, err := change(bk.manifest.Load())
	if err != nil {
		return 0, err
	}
	// Commands check the manifest under their vBucket's lock, so once it is
	// stored none writes into a dropped collection, and the sweep below
	// removes what was written before.
	bk.manifest.Store(m)
	c.republish()
	for _, cid := range dropped {
		c.dropCollectionData(b, cid)
	}
	c.log.Info("collections manifest changed", "bucket", bucket, "uid", uidHex(m.uid))
	return m.uid, nil
}

// dropCollectionData deletes collection cid from every copy of every
// vBucket of bucket b.
func (c *Cluster) dropCollectionData(b int, cid uint32) {
	c.mu.Lock()
	nodes := append([]*Node(nil), c.started...)
	c.mu.Unlock()
	for vb := range c.opts.VBuckets {
		v := &c.buckets[b].vbs[vb]
		v.mu.Lock()
		for _, n := range nodes {
			if s := n.data[b][vb]; s != nil {
				s.drop(cid)
			}
		}
		v.mu.Unlock()
	}
}

// get reads key of collection cid from replica i (0 = the active copy) of
// its vBucket.
func (c *Cluster) get(b int, cid uint32, key []byte, i int) ([]byte, bool) {
	vb := vbucketOf(key, c.opts.VBuckets)
	v := &c.buckets[b].vbs[vb]
	v.mu.Lock()
	defer v.mu.Unlock()
	n := c.topo.Load().maps[b].chains[vb][i]
	if n == nil || n.data[b][vb] == nil {
		return nil, false
	}
	cs := n.data[b][vb].find(cid)
	if cs == nil {
		return nil, false
	}
	it, ok := cs.get(key, time.Now().UnixNano())
	if !ok {
		return nil, false
	}
	return clone(it.value), true
}
