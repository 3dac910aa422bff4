// The node:http app of the bench's http rows, the same in every row: hosted
// by a model (`netmodels serve --handler dist/bench-http-app.js`, the
// `+ node:http` rows) and listening on its own (node-http-server.ts, the
// `node:http` row). A small routed reply, as a JSON API's would be.
import * as http from 'node:http';

const BODY = Buffer.from('{"hello":"world"}');

const app = http.createServer((req, res) => {
  if (req.url === '/' || req.url === '/hello') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
    res.end(BODY);
    return;
  }
  res.writeHead(404, { 'content-length': 0 });
  res.end();
});

export = app;
