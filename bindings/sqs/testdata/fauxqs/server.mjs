// Starts fauxqs, an in-memory SQS emulator speaking the JSON protocol of the
// current AWS SDKs, on the loopback interface only, for the bindings/sqs tests.
//
//   node server.mjs [port]     (or FAUXQS_PORT=port; 0 or none picks a free port)
//
// It prints "listening http://127.0.0.1:<port>" on stdout once it accepts
// connections. It stops on SIGTERM or SIGINT, and when its standard input
// closes, so that a test process that dies does not leave it running.
// Everything is kept in memory: a restart starts empty.
import { buildApp } from "fauxqs";

const port = Number(process.argv[2] ?? process.env.FAUXQS_PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`fauxqs: bad port ${process.argv[2] ?? process.env.FAUXQS_PORT}`);
  process.exit(2);
}

// startFauxqs() would listen on 0.0.0.0; buildApp() lets us bind 127.0.0.1.
const app = buildApp({ logger: false });
const address = await app.listen({ host: "127.0.0.1", port });
console.log(`listening ${address}`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await app.close();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.on("close", stop);
process.stdin.resume();
