export {startAdmin, type AdminOptions, type AdminServer} from './server.js'
export {isLoopback, parseListenAddr, type ListenAddr} from './listen-addr.js'
