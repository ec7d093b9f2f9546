// Preloaded (node --require) by ../start_portkey.sh. Portkey's gateway calls
// @hono/node-server's serve() without a hostname, which listens on every interface; this bench
// peer is an open proxy to any custom host, so keep it on loopback. Binds that name a host are
// left alone; PEER_HOST overrides the default 127.0.0.1.
'use strict';
const net = require('net');
const listen = net.Server.prototype.listen;
const host = process.env.PEER_HOST || '127.0.0.1';
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    if (args.length === 1 || args[1] === undefined || typeof args[1] === 'function') {
      const rest = args[1] === undefined ? args.slice(2) : args.slice(1);
      return listen.call(this, Number(args[0]), host, ...rest);
    }
  }
  return listen.apply(this, args);
};
