/*
 * peers.h - how many peers are connected to a socket, counted from its
 * ZeroMQ monitor events (one connection accepted, one gone, by file
 * descriptor). The broker encodes its event stream only while a peer is
 * connected to it. It used to count the subscriptions its XPUB passed on,
 * but an XPUB passes on an unsubscription it has no record of, so one
 * monitor could silence the stream for every other one; a connection
 * cannot be forged that way.
 */
#ifndef MQ_PEERS_H
#define MQ_PEERS_H

#include <stddef.h>

typedef struct peers_t peers_t;

/* Watch sock (a bound socket of ctx); name makes the monitor's inproc
 * endpoint unique. NULL with errno when ZeroMQ or memory fails. */
peers_t *peers_new(void *ctx, void *sock, const char *name);
/* Stop watching and free; *self_p = NULL. */
void peers_destroy(peers_t **self_p);
/* The socket the events arrive on, for the caller's poll. */
void *peers_socket(peers_t *self);
/* Read the events that are waiting (up to 1,000), and count. */
void peers_update(peers_t *self);
/* Forget every connection counted: after an unbind, which drops them all
 * without a "disconnected" event for each. */
void peers_reset(peers_t *self);
/* Connections accepted and not yet gone. */
size_t peers_count(const peers_t *self);

#endif
