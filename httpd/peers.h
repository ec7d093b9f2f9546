/* peers.h - open connections counted per client address, for the per-address cap (a flood from one address
 * cannot take every connection slot). */
#ifndef LGW_HTTPD_PEERS_H
#define LGW_HTTPD_PEERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct lgw_peers;

struct lgw_peer_key {
    uint8_t addr[16]; /* IPv4 as its 4 bytes, IPv6 as 16 */
    uint8_t len;      /* 0: not counted (not an IP address) */
};

/* A counter capped at cap connections per address (0: uncapped, nothing counted). */
struct lgw_peers *lgw_peers_new(unsigned cap);
void lgw_peers_free(struct lgw_peers *p);
/* The key of a peer's address. */
void lgw_peer_key_of(const struct sockaddr_storage *sa, struct lgw_peer_key *key);
/* Counts one more connection from key; false (nothing counted) when it would pass the cap. Any thread. */
bool lgw_peers_take(struct lgw_peers *p, const struct lgw_peer_key *key);
/* Counts one connection from key fewer (one lgw_peers_take returned true for). Any thread. */
void lgw_peers_release(struct lgw_peers *p, const struct lgw_peer_key *key);

#endif
