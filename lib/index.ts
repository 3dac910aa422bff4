export * as sys from './sys';
