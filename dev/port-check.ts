import { createServer } from 'node:net';

/**
 * Whether 127.0.0.1:port can be listened on, tried before PostgreSQL starts: a port in use then costs nothing
 * (it used to be found only after the server had started). Port 0 (any free port) always can.
 */
export const assertPortFree = async (port: number, variable = 'PORT'): Promise<void> => {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => reject(portError(e, port, variable)));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
  });
};

/** The message for a listen error: which variable to set, and to what. */
export const portError = (e: NodeJS.ErrnoException, port: number, variable = 'PORT'): Error => {
  const next = port < 65535 ? port + 1 : 3000;
  if (e.code === 'EADDRINUSE')
    return new Error(
      `${variable}=${port}: 127.0.0.1:${port} is already in use (another npm start?); set ${variable} to a free port, e.g. ${variable}=${next} npm start`,
    );
  if (e.code === 'EACCES')
    return new Error(
      `${variable}=${port}: this user may not listen on 127.0.0.1:${port} (ports below 1024 need ` +
        `privileges); set ${variable} to a port from 1024 to 65535, e.g. ${variable}=3000`,
    );
  return new Error(`${variable}=${port}: cannot listen on 127.0.0.1:${port}: ${e.message}`);
};
