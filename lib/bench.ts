// Placeholder until the load generator lands: bench and stress need it.
export async function benchCommand(_argv: string[]): Promise<number> {
  process.stderr.write('netmodels bench: not available in this build yet\n');
  return 1;
}
export async function stressCommand(_argv: string[]): Promise<number> {
  process.stderr.write('netmodels stress: not available in this build yet\n');
  return 1;
}
