// A listener that counts the connections made to it and answers none: the address a process is given for a system
// it must not contact (the Kubernetes API, an HTTPS proxy, PostgreSQL), so a test can assert it contacted none. It
// counts connections, not requests, so a TLS client (which an HTTP server would not see as a request) and a client
// that gives up early are counted too. It closes a connection once the client has spoken (a TLS client then reads
// "disconnected before secure TLS connection was established", every time), or after a second of silence.
import { createServer, type Socket } from "node:net";

export interface CountingServer {
  /** `127.0.0.1` */
  host: string;
  port: number;
  /** Connections accepted since start or `reset()`. */
  connections(): number;
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingServer(): Promise<CountingServer> {
  let count = 0;
  const open = new Set<Socket>();
  const server = createServer((socket) => {
    count++;
    open.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => open.delete(socket));
    socket.once("data", () => socket.end());
    socket.setTimeout(1_000, () => socket.destroy());
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") reject(new Error("no TCP address"));
      else resolve(address.port);
    });
  });
  return {
    host: "127.0.0.1",
    port,
    connections: () => count,
    reset: () => {
      count = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
