// Package kubecheck keeps vbproxy's Kubernetes manifests (deploy/kubernetes)
// honest.
//
// It decodes manifests strictly into the typed Kubernetes objects of k8s.io/api
// (unknown or misspelt fields, duplicate keys and unknown kinds are errors),
// checks kustomize directories structurally (every resource, component,
// generator file and patch exists, and every patch and image override targets
// something that does), renders them with the kustomize library, and checks the
// rendered objects against each other and against the vbproxy configuration
// they carry: ports, probe paths, the config mount, Secret references, the
// certificate, key, CA and token files (mounted from Secrets or the Secrets
// cert-manager Certificates write, rotatable, not world-readable), the
// graceful-drain timing and the pod's security settings.
//
// The entry points:
//
//	Decode / DecodeFile      strict multi-document YAML decoding into Objects
//	CheckKustomization       structural check of a kustomization tree
//	Build                    kustomize build of a directory, strictly decoded
//	CheckWorkload            cross-checks of one rendered deployment of vbproxy
//	CheckCertificate         checks of one cert-manager Certificate on its own
//	ParseProxyConfig         the parts of a vbproxy YAML config the checks need
//	                         (ports, Secret references, the TLS and token files)
//	ParseHelpFlags           flag names from `vbproxy -help` output
//	ParseDockerfile          instructions of deploy/Dockerfile
//
// The package lives in its own module (github.com/vbproxy/vbproxy/deploy) so
// that the Kubernetes libraries stay out of the proxy's module.
package kubecheck
