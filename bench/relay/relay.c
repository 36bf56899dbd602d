// relay: the cheapest possible TCP proxy, for measuring the latency floor of
// one extra hop (scripts/latency-floor.sh). Per client connection, one
// upstream connection and either
//   - two threads, each blocked in read(2) on one side and writing what it
//     read to the other (the default: the floor for a proxy that sleeps), or
//   - with "spin": one thread polling both non-blocking sockets without ever
//     sleeping (no wake-up on the proxy's side of either hop, at the price of
//     a whole core per connection).
// No parsing, no event loop, no user-space scheduler.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int upstream_port;
// A pair is one direction of a connection; the two directions share refs,
// and the one that ends last closes both sockets.
struct pair { int from, to; int *refs; };

static void *copy(void *arg) {
	struct pair *p = arg;
	static __thread char buf[65536];
	for (;;) {
		ssize_t n = read(p->from, buf, sizeof buf);
		if (n <= 0) break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(p->to, buf + off, n - off);
			if (w <= 0) goto out;
			off += w;
		}
	}
out:
	shutdown(p->to, SHUT_WR);
	if (__atomic_sub_fetch(p->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		close(p->from);
		close(p->to);
		free(p->refs);
	}
	free(p);
	return NULL;
}

// pump moves what from has now to to; it returns -1 when either side is
// closed or fails.
static int pump(int from, int to, char *buf, size_t size) {
	ssize_t n = recv(from, buf, size, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN)) return -1;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, n - off);
		if (w < 0 && errno == EAGAIN) continue;
		if (w <= 0) return -1;
		off += w;
	}
	return 0;
}

static void *spin(void *arg) {
	struct pair *p = arg;
	static __thread char buf[65536];
	fcntl(p->to, F_SETFL, fcntl(p->to, F_GETFL) | O_NONBLOCK);
	while (pump(p->from, p->to, buf, sizeof buf) == 0 && pump(p->to, p->from, buf, sizeof buf) == 0)
		;
	close(p->from);
	close(p->to);
	free(p->refs);
	free(p);
	return NULL;
}

static void nodelay(int fd) { int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); }

int main(int argc, char **argv) {
	if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "spin") != 0)) {
		fprintf(stderr, "usage: relay LISTEN_PORT UPSTREAM_PORT [spin]\n");
		return 2;
	}
	int spinning = argc == 4;
	upstream_port = atoi(argv[2]);
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (bind(ls, (void *)&a, sizeof a) || listen(ls, 1024)) { perror("listen"); return 1; }
	for (;;) {
		int c = accept(ls, NULL, NULL);
		if (c < 0) continue;
		int u = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in ua = {.sin_family = AF_INET, .sin_port = htons(upstream_port)};
		inet_pton(AF_INET, "127.0.0.1", &ua.sin_addr);
		if (connect(u, (void *)&ua, sizeof ua)) { perror("connect"); close(c); close(u); continue; }
		nodelay(c); nodelay(u);
		struct pair *up = malloc(sizeof *up), *down = malloc(sizeof *down);
		int *refs = malloc(sizeof *refs);
		*refs = 2;
		*up = (struct pair){c, u, refs}; *down = (struct pair){u, c, refs};
		pthread_t t;
		if (spinning) {
			pthread_create(&t, NULL, spin, up);
			pthread_detach(t);
			free(down);
			continue;
		}
		pthread_create(&t, NULL, copy, up); pthread_detach(t);
		pthread_create(&t, NULL, copy, down); pthread_detach(t);
	}
}
