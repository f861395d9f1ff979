/** The software version written into outputs (kept equal to package.json's). */
export const VERSION = '0.1.0';
